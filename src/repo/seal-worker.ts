/**
 * Worker thread of the seal pool: seals (compress + encrypt) and opens (decrypt + decompress + verify) batches of
 * objects, so both cores work during backup, restore and check.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { blake3SelfTest } from '../dedup/blake3.js'
import { openObject, sealObject, type ObjectKeys } from './objects.js'
import type { PoolJob, PoolResult } from './seal-pool.js'

blake3SelfTest()
const keys = workerData.keys as ObjectKeys

parentPort!.on('message', (batch: { seq: number; jobs: PoolJob[] }) => {
  const results: PoolResult[] = []
  const transfer: ArrayBuffer[] = []
  for (const job of batch.jobs) {
    try {
      if (job.op === 'seal') {
        const { envelope, compressedBytes } = sealObject(keys, job.id, job.header, job.data)
        results.push({ ok: true, data: envelope, compressedBytes })
        transferable(envelope, transfer)
      } else {
        const { plain } = openObject(keys, job.id, job.data, job.kind)
        const copy = plain.byteOffset === 0 && plain.byteLength === plain.buffer.byteLength ? plain : Uint8Array.prototype.slice.call(plain)
        results.push({ ok: true, data: copy, compressedBytes: 0 })
        transferable(copy, transfer)
      }
    } catch (err) {
      const e = err as { code?: string; message?: string }
      results.push({ ok: false, code: e.code, message: e.message ?? String(err) })
    }
  }
  parentPort!.postMessage({ seq: batch.seq, results }, transfer)
})

function transferable(bytes: Uint8Array, list: ArrayBuffer[]): void {
  const buffer = bytes.buffer as ArrayBuffer
  if (bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && !list.includes(buffer)) list.push(buffer)
}
