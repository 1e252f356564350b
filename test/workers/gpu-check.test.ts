// `dcign worker --gpus` refuses GPUs the machine does not have, naming `--slots` for CPU training.
import test from 'ava';

import { checkGpuSlots } from '../../workers/gpu-check.js';

test('no GPU visible: refused, naming --slots with the same count', (t) => {
  t.throws(() => checkGpuSlots(['0', '1', '2', '3'], []), { message: /no GPU is visible.*use --slots 4 instead/ });
});

test('a GPU index the machine lacks is refused; the ones it has pass', (t) => {
  const visible = ['GPU 0: NVIDIA H200', 'GPU 1: NVIDIA H200'];
  t.throws(() => checkGpuSlots(['1', '2'], visible), { message: /names GPU 2, which this machine does not have \(it has 0,1/ });
  t.notThrows(() => checkGpuSlots(['0', '1'], visible));
});
