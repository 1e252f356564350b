// Training slots of one worker: one per GPU (CUDA_VISIBLE_DEVICES=<id>) or N CPU slots (CUDA_VISIBLE_DEVICES='').
export class SlotPool {
  private readonly free: string[];

  constructor(readonly devices: readonly string[]) {
    if (devices.length === 0) throw new Error('a worker needs at least one training slot');
    this.free = [...devices];
  }

  static cpu(slots: number): SlotPool {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`--slots must be an integer >= 1, got ${slots}`);
    return new SlotPool(Array.from({ length: slots }, () => ''));
  }

  static gpus(ids: readonly string[]): SlotPool {
    for (const id of ids) if (!/^\d+$/.test(id)) throw new Error(`--gpus takes device indices like 0,1; got ${JSON.stringify(id)}`);
    if (new Set(ids).size !== ids.length) throw new Error(`--gpus lists a device twice: ${ids.join(',')}`);
    return new SlotPool(ids);
  }

  get size(): number {
    return this.devices.length;
  }

  /** Slots held by running replicas. */
  get inUse(): number {
    return this.devices.length - this.free.length;
  }

  /** A free slot's device ('' for a CPU slot). The worker accepts at most `size` training tasks, so one is free. */
  acquire(): string {
    const d = this.free.shift();
    if (d === undefined) throw new Error(`all ${this.devices.length} training slots are busy`);
    return d;
  }

  release(device: string): void {
    this.free.push(device);
  }
}
