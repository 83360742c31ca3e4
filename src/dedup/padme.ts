/**
 * Padmé padding (Nikitin et al., PETS 2019): rounds a length up so that at most O(log log L) bits of it remain,
 * with at most 12 % overhead. Sealed sizes then no longer reveal exact chunk lengths.
 */
export function padmeLength(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new Error(`Invalid length: ${length}`)
  if (length < 2) return length
  const e = Math.floor(Math.log2(length))
  const s = Math.floor(Math.log2(e)) + 1
  const lastBits = e - s
  if (lastBits <= 0) return length
  const mask = 2 ** lastBits - 1
  // (length + mask) & ~mask without 32-bit overflow
  return Math.floor((length + mask) / 2 ** lastBits) * 2 ** lastBits
}
