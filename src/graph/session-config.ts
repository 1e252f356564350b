// The session's ConfigProto (tensorflow/core/protobuf/config.proto), encoded by hand: three scalar fields are all a
// session needs here, not worth a protobuf library.
//   2 intra_op_parallelism_threads (int32)   5 inter_op_parallelism_threads (int32)   7 allow_soft_placement (bool)
// Thread counts follow TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, as the eager context does (0: TensorFlow's
// default). Soft placement lets the GPU build keep int32 shape constants on the host.

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

function threadsFromEnv(name: string): number {
  const v = Number(process.env[name] ?? 0);
  return Number.isInteger(v) && v > 0 ? v : 0;
}

export function sessionConfig(intra = threadsFromEnv('TF_NUM_INTRAOP_THREADS'), inter = threadsFromEnv('TF_NUM_INTEROP_THREADS')): Uint8Array {
  const bytes: number[] = [];
  if (intra > 0) bytes.push(0x10, ...varint(intra));
  if (inter > 0) bytes.push(0x28, ...varint(inter));
  bytes.push(0x38, 1);
  return Uint8Array.from(bytes);
}
