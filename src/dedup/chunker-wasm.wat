;; Hot loop of Arca's content-defined chunker (see chunker.ts for the cut rule; chunker-wasm.ts loads this).
;; Assembled into chunker-wasm.wasm by scripts/build-wasm.mjs; both files are committed.
;;
;; Linear memory: the gear table as 256 little-endian i32 at [0, 1024), the bytes to scan from 1024 on.
;; The host grows the memory to fit its largest window and writes the gear table once.
;;
;; scan(from, to, mask) hashes the 31 bytes before `from` to warm up, then tests every byte in [from, to):
;;   h = (h << 1) + gear[byte]            (mod 2^32; after 32 bytes h depends on those 32 bytes only)
;;   if (h & mask) == 0: return the address just past that byte
;; and returns 0 when no byte in the range qualifies. Requires 1055 <= from <= to. The test loop is unrolled 8x.
(module
  (memory (export "memory") 1)

  (func (export "scan") (param $from i32) (param $to i32) (param $mask i32) (result i32)
    (local $p i32) (local $h i32) (local $last8 i32)
    ;; Warm-up: 31 bytes, no test (the 32nd byte, at `from`, completes the window and is tested).
    (local.set $p (i32.sub (local.get $from) (i32.const 31)))
    (loop $warm
      (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
        (i32.load (i32.shl (i32.load8_u (local.get $p)) (i32.const 2)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br_if $warm (i32.lt_u (local.get $p) (local.get $from))))
    ;; Eight bytes per iteration while at least eight remain.
    (local.set $last8 (i32.sub (local.get $to) (i32.const 8)))
    (block $tail
      (loop $by8
        (br_if $tail (i32.gt_s (local.get $p) (local.get $last8)))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=0 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 1)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 2)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 3)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=3 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 4)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=4 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 5)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=5 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 6)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=6 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 7)))))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u offset=7 (local.get $p)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (i32.add (local.get $p) (i32.const 8)))))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $by8)))
    ;; The remaining 0 to 7 bytes.
    (block $done
      (loop $by1
        (br_if $done (i32.ge_u (local.get $p) (local.get $to)))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $p)) (i32.const 2)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $h) (local.get $mask)))
          (then (return (local.get $p))))
        (br $by1)))
    (i32.const 0))
)
