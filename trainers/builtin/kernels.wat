;; Training kernels (see kernels.ts): float32 matrices, row-major, in linear memory; every pointer
;; and size is in bytes. Four lanes at a time and a block of rows or inputs per loaded weight
;; vector: about ten times the multiply-adds per second of the same loops in JavaScript. The caller
;; pads: row counts of `multiply` to a multiple of 4, output widths to a multiple of 8 and input
;; widths of `weightGradients` to a multiple of 4.
(module
  (import "env" "memory" (memory 1))

  ;; out[r, o] = bias[o] + Σ_k a[r, k] · w[k, o], then max(·, 0) if relu.
  ;; a: rows × inputs, w: inputs × outputs, out: rows × outputs. A block is 4 rows × 8 outputs.
  (func (export "multiply")
    (param $a i32) (param $w i32) (param $bias i32) (param $out i32)
    (param $rows i32) (param $inputs i32) (param $outputs i32) (param $relu i32)
    (local $rowBytes i32) (local $outBytes i32) (local $end i32) (local $o i32) (local $k i32)
    (local $pa i32) (local $pw i32) (local $po i32)
    (local $floor v128) (local $u v128) (local $v v128) (local $x v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rowBytes (i32.shl (local.get $inputs) (i32.const 2)))
    (local.set $outBytes (i32.shl (local.get $outputs) (i32.const 2)))
    (local.set $end (i32.add (local.get $a) (i32.mul (local.get $rows) (local.get $rowBytes))))
    ;; max(x, -inf) = x: relu or not, the same instructions.
    (local.set $floor
      (f32x4.splat (select (f32.const 0) (f32.const -inf) (local.get $relu))))
    (block $done
      (loop $rowBlocks
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $o (i32.const 0))
        (block $rowDone
          (loop $outBlocks
            (br_if $rowDone (i32.ge_u (local.get $o) (local.get $outBytes)))
            ;; s: outputs o..o+3, t: o+4..o+7; digit: row in the block.
            (local.set $s0 (v128.load (i32.add (local.get $bias) (local.get $o))))
            (local.set $t0 (v128.load offset=16 (i32.add (local.get $bias) (local.get $o))))
            (local.set $s1 (local.get $s0))
            (local.set $s2 (local.get $s0))
            (local.set $s3 (local.get $s0))
            (local.set $t1 (local.get $t0))
            (local.set $t2 (local.get $t0))
            (local.set $t3 (local.get $t0))
            (local.set $pa (local.get $a))
            (local.set $pw (i32.add (local.get $w) (local.get $o)))
            (local.set $k (local.get $inputs))
            (block $blockDone
              (loop $inputSteps
                (br_if $blockDone (i32.eqz (local.get $k)))
                (local.set $u (v128.load (local.get $pw)))
                (local.set $v (v128.load offset=16 (local.get $pw)))
                (local.set $x (v128.load32_splat (local.get $pa)))
                (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat (i32.add (local.get $pa) (local.get $rowBytes))))
                (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat
                  (i32.add (local.get $pa) (i32.shl (local.get $rowBytes) (i32.const 1)))))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t2 (f32x4.add (local.get $t2) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat
                  (i32.add (local.get $pa) (i32.mul (local.get $rowBytes) (i32.const 3)))))
                (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t3 (f32x4.add (local.get $t3) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                (local.set $pw (i32.add (local.get $pw) (local.get $outBytes)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $inputSteps)))
            (local.set $po (i32.add (local.get $out) (local.get $o)))
            (v128.store (local.get $po) (f32x4.max (local.get $s0) (local.get $floor)))
            (v128.store offset=16 (local.get $po) (f32x4.max (local.get $t0) (local.get $floor)))
            (local.set $po (i32.add (local.get $po) (local.get $outBytes)))
            (v128.store (local.get $po) (f32x4.max (local.get $s1) (local.get $floor)))
            (v128.store offset=16 (local.get $po) (f32x4.max (local.get $t1) (local.get $floor)))
            (local.set $po (i32.add (local.get $po) (local.get $outBytes)))
            (v128.store (local.get $po) (f32x4.max (local.get $s2) (local.get $floor)))
            (v128.store offset=16 (local.get $po) (f32x4.max (local.get $t2) (local.get $floor)))
            (local.set $po (i32.add (local.get $po) (local.get $outBytes)))
            (v128.store (local.get $po) (f32x4.max (local.get $s3) (local.get $floor)))
            (v128.store offset=16 (local.get $po) (f32x4.max (local.get $t3) (local.get $floor)))
            (local.set $o (i32.add (local.get $o) (i32.const 32)))
            (br $outBlocks)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rowBytes) (i32.const 2))))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $outBytes) (i32.const 2))))
        (br $rowBlocks))))

  ;; dw[k, o] = Σ_r a[r, k] · d[r, o]   (a: rows × inputs, d: rows × outputs, dw: inputs × outputs).
  ;; A block is 4 inputs × 8 outputs, summed over all rows in registers.
  (func (export "weightGradients")
    (param $a i32) (param $d i32) (param $dw i32)
    (param $rows i32) (param $inputs i32) (param $outputs i32)
    (local $rowBytes i32) (local $outBytes i32) (local $k i32) (local $o i32) (local $r i32)
    (local $pa i32) (local $pd i32) (local $pw i32)
    (local $u v128) (local $v v128) (local $x v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rowBytes (i32.shl (local.get $inputs) (i32.const 2)))
    (local.set $outBytes (i32.shl (local.get $outputs) (i32.const 2)))
    (local.set $k (i32.const 0))
    (block $done
      (loop $inputBlocks
        (br_if $done (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $o (i32.const 0))
        (block $inputsDone
          (loop $outBlocks
            (br_if $inputsDone (i32.ge_u (local.get $o) (local.get $outBytes)))
            ;; s: outputs o..o+3, t: o+4..o+7; digit: input in the block.
            (local.set $s0 (v128.const f32x4 0 0 0 0))
            (local.set $s1 (v128.const f32x4 0 0 0 0))
            (local.set $s2 (v128.const f32x4 0 0 0 0))
            (local.set $s3 (v128.const f32x4 0 0 0 0))
            (local.set $t0 (v128.const f32x4 0 0 0 0))
            (local.set $t1 (v128.const f32x4 0 0 0 0))
            (local.set $t2 (v128.const f32x4 0 0 0 0))
            (local.set $t3 (v128.const f32x4 0 0 0 0))
            (local.set $pa (i32.add (local.get $a) (local.get $k)))
            (local.set $pd (i32.add (local.get $d) (local.get $o)))
            (local.set $r (local.get $rows))
            (block $blockDone
              (loop $rowSteps
                (br_if $blockDone (i32.eqz (local.get $r)))
                (local.set $u (v128.load (local.get $pd)))
                (local.set $v (v128.load offset=16 (local.get $pd)))
                (local.set $x (v128.load32_splat (local.get $pa)))
                (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
                (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
                (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t2 (f32x4.add (local.get $t2) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
                (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $u) (local.get $x))))
                (local.set $t3 (f32x4.add (local.get $t3) (f32x4.mul (local.get $v) (local.get $x))))
                (local.set $pa (i32.add (local.get $pa) (local.get $rowBytes)))
                (local.set $pd (i32.add (local.get $pd) (local.get $outBytes)))
                (local.set $r (i32.sub (local.get $r) (i32.const 1)))
                (br $rowSteps)))
            ;; Row k/4 of dw, column o: k counts bytes of a row of a, so k/4 inputs × outBytes.
            (local.set $pw (i32.add (local.get $dw)
              (i32.add (i32.mul (i32.shr_u (local.get $k) (i32.const 2)) (local.get $outBytes))
                (local.get $o))))
            (v128.store (local.get $pw) (local.get $s0))
            (v128.store offset=16 (local.get $pw) (local.get $t0))
            (local.set $pw (i32.add (local.get $pw) (local.get $outBytes)))
            (v128.store (local.get $pw) (local.get $s1))
            (v128.store offset=16 (local.get $pw) (local.get $t1))
            (local.set $pw (i32.add (local.get $pw) (local.get $outBytes)))
            (v128.store (local.get $pw) (local.get $s2))
            (v128.store offset=16 (local.get $pw) (local.get $t2))
            (local.set $pw (i32.add (local.get $pw) (local.get $outBytes)))
            (v128.store (local.get $pw) (local.get $s3))
            (v128.store offset=16 (local.get $pw) (local.get $t3))
            (local.set $o (i32.add (local.get $o) (i32.const 32)))
            (br $outBlocks)))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $inputBlocks))))

  ;; db[o] = Σ_r d[r, o]   (d: rows × outputs), row by row: no long chain of dependent adds.
  (func (export "biasGradients")
    (param $d i32) (param $db i32) (param $rows i32) (param $outputs i32)
    (local $outBytes i32) (local $o i32) (local $end i32)
    (local.set $outBytes (i32.shl (local.get $outputs) (i32.const 2)))
    (memory.fill (local.get $db) (i32.const 0) (local.get $outBytes))
    (local.set $end (i32.add (local.get $d) (i32.mul (local.get $rows) (local.get $outBytes))))
    (block $done
      (loop $rowSteps
        (br_if $done (i32.ge_u (local.get $d) (local.get $end)))
        (local.set $o (i32.const 0))
        (loop $outBlocks
          (v128.store (i32.add (local.get $db) (local.get $o))
            (f32x4.add
              (v128.load (i32.add (local.get $db) (local.get $o)))
              (v128.load (i32.add (local.get $d) (local.get $o)))))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br_if $outBlocks (i32.lt_u (local.get $o) (local.get $outBytes))))
        (local.set $d (i32.add (local.get $d) (local.get $outBytes)))
        (br $rowSteps))))

  ;; d[i] = 0 where y[i] <= 0: a relu unit whose output was 0 passes no gradient back.
  (func (export "reluGradient") (param $d i32) (param $y i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $d) (local.get $bytes)))
    (block $done
      (loop $vectors
        (br_if $done (i32.ge_u (local.get $d) (local.get $end)))
        (v128.store (local.get $d)
          (v128.and
            (v128.load (local.get $d))
            (f32x4.gt (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $vectors)))))
