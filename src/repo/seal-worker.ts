/**
 * Worker thread of the seal pool: runs a batch of seal/open jobs from one transferred buffer and returns all
 * results in one transferred buffer.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { blake3SelfTest } from '../dedup/blake3.js'
import type { ObjectKind } from '../protocol/object-envelope.js'
import { sealObjectParts, type ObjectKeys } from './objects.js'
import { CLOSE_MESSAGE, runJob, type BatchMessage, type ResultMessage, type ResultMeta } from './seal-pool.js'

blake3SelfTest()
const keys = workerData.keys as ObjectKeys
const level = workerData.level as number

parentPort!.on('message', (msg: BatchMessage | typeof CLOSE_MESSAGE) => {
  if (msg === CLOSE_MESSAGE) {
    parentPort!.close()
    return
  }
  const input = new Uint8Array(msg.buffer)
  // a seal's result stays in pieces until it is copied into the reply: no concatenated envelope per object
  const outputs: (Uint8Array[] | undefined)[] = []
  const results: ResultMeta[] = []
  let total = 0
  msg.jobs.forEach(([op, kind, at, idLength, headerLength, dataLength, fd, position], index) => {
    const source = msg.sources[index] ?? undefined
    const id = input.subarray(at, at + idLength)
    const dataStart = at + idLength + headerLength
    const data = input.subarray(dataStart, dataStart + dataLength)
    try {
      if (op === 0) {
        const sealed = sealObjectParts(keys, id, input.subarray(at + idLength, dataStart), data, level)
        outputs.push(sealed.parts)
        results.push([total, sealed.length, sealed.compressedBytes, data.length, 0])
        total += sealed.length
        return
      }
      const out = runJob(keys, { op: 'open', id, data, kind: kind === 0 ? undefined : (kind as ObjectKind), writeTo: fd < 0 ? undefined : { fd, position }, isDiscarded: fd === -2, source }, level)
      outputs.push([out.data])
      results.push([total, out.data.length, out.compressedBytes, out.plainBytes, out.isWritten ? 1 : 0])
      total += out.data.length
    } catch (err) {
      const e = err as { code?: string; message?: string }
      outputs.push(undefined)
      results.push({ code: e.code, message: e.message ?? String(err) })
    }
  })
  const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total)
  outputs.forEach((parts, i) => {
    const r = results[i]
    if (parts === undefined || !Array.isArray(r)) return
    let at = r[0]
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
  })
  const reply: ResultMessage = { seq: msg.seq, buffer: out.buffer as ArrayBuffer, results, input: msg.buffer }
  parentPort!.postMessage(reply, [out.buffer as ArrayBuffer, msg.buffer])
})
