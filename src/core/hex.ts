/** Lower-case hex encoding of ids. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function fromHex(hex: string, expectedBytes?: number): Uint8Array {
  if (!/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0) {
    throw new Error(`Invalid hex string: "${hex.slice(0, 80)}"`)
  }
  const out = Buffer.from(hex, 'hex')
  if (expectedBytes !== undefined && out.length !== expectedBytes) {
    throw new Error(`Invalid hex length: expected ${expectedBytes} bytes, received ${out.length}`)
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}
