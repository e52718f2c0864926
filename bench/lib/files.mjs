// Deterministic input files: xoshiro128** seeded per file from one fixed seed, written in
// 4 MiB blocks. The same seed gives the same bytes on every machine and every run.
import { closeSync, openSync, writeSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export const SEED = 0xf3_22_7b_01;
const BLOCK = 4 * 1024 * 1024;

function splitmix32(a) {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** Fills `words` (a Uint32Array) from the xoshiro128** state `s` (4 × u32). */
function fill(s, words) {
  let [a, b, c, d] = s;
  for (let i = 0; i < words.length; i++) {
    const m = Math.imul(b, 5);
    words[i] = Math.imul((m << 7) | (m >>> 25), 9);
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
    d = (d << 11) | (d >>> 21);
  }
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}

/** The generator state of input number `index`. */
function stateOf(index) {
  const seed = splitmix32(SEED ^ Math.imul(index + 1, 0x9e3779b1));
  return new Uint32Array([seed(), seed(), seed(), seed()]);
}

/** `size` seeded bytes in memory (the same bytes `seededFile` writes for `index`). */
export function seededBytes(size, index) {
  const words = new Uint32Array(Math.ceil(size / 4));
  fill(stateOf(index), words);
  return Buffer.from(words.buffer, 0, size);
}

/** Writes `size` seeded bytes to `dir/name`; returns `{path, name, size, sha256?}`. */
export function seededFile(dir, name, size, index, { hash = false } = {}) {
  const s = stateOf(index);
  const words = new Uint32Array(BLOCK / 4);
  const bytes = new Uint8Array(words.buffer);
  const digest = hash ? createHash('sha256') : null;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    for (let left = size; left > 0;) {
      const n = Math.min(BLOCK, left);
      fill(s, words.subarray(0, Math.ceil(n / 4)));
      const view = bytes.subarray(0, n);
      writeSync(fd, view);
      digest?.update(view);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return { path, name, size, sha256: digest?.digest('hex') };
}

/** `count` files of sizes drawn (seeded) from [min, max] bytes, named with `prefix`. */
export function seededFiles(dir, prefix, count, min, max, firstIndex, ext = 'jpg') {
  const pick = splitmix32(SEED + firstIndex);
  return Array.from({ length: count }, (_, i) => {
    const size = min === max ? min : min + (pick() % (max - min + 1));
    return seededFile(dir, `${prefix}${String(i).padStart(5, '0')}.${ext}`, size, firstIndex + i);
  });
}
