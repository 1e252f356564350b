// The training step of the VAE model family as one TensorFlow graph: forward pass, loss, gradients and the Adam
// update, with parameters and Adam's moments in resource variables that stay in TensorFlow between steps.
//
// It mirrors, op for op, the eager step of src/model (architecture.ts encode/decode, losses.ts, vae.ts loss) and
// src/train/adam.ts, so the two agree to float rounding (test/graph/vae-step-graph.test.ts):
//   encoder/decoder  Higgins et al. 2017 App. A.1, Locatello et al. 2019 Table 1 (architecture.ts); residual blocks
//                    He et al. 2016 Eq. 1; SAGAN self-attention Zhang et al. 2019 Eq. 1-3 (param-specs.ts)
//   ELBO             Kingma & Welling 2014 Eq. 3 and App. B (losses.ts); reparameterisation Sec. 2.4
//   beta-VAE         Higgins et al. 2017 Eq. 4: recon + beta KL
//   annealed VAE     Burgess et al. 2018 Eq. 8: recon + gamma |KL - C| (C fed per step)
//   Adam             Kingma & Ba 2015 Algorithm 1, PyTorch's arrangement of epsilon (adam.ts); by default as
//                    TensorFlow's ResourceApplyAdam kernel per parameter, or adam.ts's own ops on flat moments
//   DIP-VAE-I/II     Kumar et al. 2018 Eq. 6 / 7 (dip-vae.ts)
//   DCIGN            Kulkarni et al. 2015 Sec. 3.1, clamped as src/model/dcign.ts says (the clamp's gradient is a
//                    hand rule: GraphBuilder.clamp)
//   InfoVAE          Zhao et al. 2017 Eq. 7, MMD of Gretton et al. 2012 Lemma 6 (mmd.ts)
//   beta-TCVAE       Chen et al. 2018 Sec. 3.1, minibatch-weighted TC (beta-tcvae.ts)
//   FactorVAE        Kim & Mnih 2018 Eq. 2 and Algorithm 1 (factor-vae.ts): the discriminator's parameters follow
//                    the VAE's and step with their own Adam group, from the one gradient, as adam.ts does
// Every variant on every architecture (support.ts); a model outside those lists keeps the eager step and says why.
//
// Three entry points share the graph (the data-parallel split of src/train/step.ts):
//   train     forward + backward + Adam in one run (one replica)
//   flatGrad  forward + backward, the gradient as one flat vector in parameter order (for the all-reduce)
//   apply     Adam with a fed flat gradient (the all-reduced mean)
import type { ModelConfig } from '../model/config.js';
import { ATTENTION_STAGE, attentionKeyChannels, bottleneckSide, gaussianSigma, type ParamSpec } from '../model/param-specs.js';
import { GraphBuilder, type Node } from './builder.js';
import { graphSupport } from './support.js';
import { DT_FLOAT, DT_INT32, type Output, type TfGraphAddon } from './native.js';

export interface AdamSettings {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly clipNorm?: number;
}

/** One Adam parameter group in the graph: parameters [first, first + count), its settings and per-step placeholders. */
export interface AdamGroupGraph {
  readonly first: number;
  readonly count: number;
  readonly cfg: AdamSettings;
  /** lr / (1 - b1^t), sqrt(1 - b2^t), b1^t, b2^t, epsilon sqrt(1 - b2^t) */
  readonly stepSize: Node;
  readonly biasCorrection2: Node;
  readonly beta1Power: Node;
  readonly beta2Power: Node;
  readonly epsilonT: Node;
}

export interface StepGraphShape {
  readonly config: ModelConfig;
  readonly channels: number;
  readonly batchSize: number;
  readonly specs: readonly ParamSpec[];
  readonly adam: AdamSettings;
  /** Variable names are prefixed with it (unique per process). */
  readonly prefix: string;
  /** Consecutive parameter runs with their own Adam settings (VaeModel.groups); absent: one group. */
  readonly groups?: readonly { readonly count: number; readonly adam?: { readonly learningRate: number; readonly beta1: number; readonly beta2: number } }[];
  /** Adam as ResourceApplyAdam kernels ('fused', default) or adam.ts's flat ops ('flat'). */
  readonly adamKernel?: 'fused' | 'flat';
}

/** The graph and the handles the session driver feeds, fetches and runs. */
export class VaeStepGraph {
  readonly b: GraphBuilder;
  readonly x: Node;
  readonly eps: Node;
  /** Annealed capacity C at the step (annealed-vae only). */
  readonly capacity: Node | undefined;
  /** InfoVAE: [B, L] prior samples (noiseFor with PRIOR_SALT). */
  readonly prior: Node | undefined;
  /** FactorVAE: int32 [B * L] permute_dims gather indices (factor-vae.ts permutationIndices). */
  readonly permutation: Node | undefined;
  /** DCIGN: [1, L] 0/1 mask of the batch's free latents (all ones for a batch with no varied factor). */
  readonly freeMask: Node | undefined;
  /** DCIGN: the batch's own clamp target ([2, L] mean and log-variance rows, or [1, L] for clampAt 'z'). */
  readonly localClampTarget: Node | undefined;
  /** DCIGN: the clamp target used, the local one unless fed (the all-reduced global batch's, with replicas). */
  readonly clampTarget: Node | undefined;
  /** 'fused': ResourceApplyAdam per parameter (default); 'flat': adam.ts's ops on flat moments. */
  readonly adamKernel: 'fused' | 'flat';
  /** Adam per parameter group, with its per-step values (adamFeeds). */
  readonly adamGroups: readonly AdamGroupGraph[];
  /** [total, recon, kl, regulariser, kl_0 .. kl_{L-1}] (src/train/step.ts scalarNames order). */
  readonly scalars: Node;
  /** The gradient, flat in parameter order. */
  readonly flatGrad: Node;
  /** A flat gradient fed for applyOp (the all-reduced mean). */
  readonly gradIn: Node;
  /** Adam with the graph's own gradients (the whole step). */
  readonly trainOp: number;
  /** Adam with gradIn. */
  readonly applyOp: number;
  readonly paramReads: readonly Node[];
  /** Parameters, m and v, each flat in parameter order (the checkpoint layout). */
  readonly paramsFlat: Node;
  readonly momentReads: readonly [Node, Node];
  /** Host values in, flat in parameter order: parameters, m, v; loadOp assigns them all. */
  readonly loadInputs: readonly Node[];
  readonly loadOp: number;
  private readonly adam: AdamSettings;

  constructor(addon: TfGraphAddon, s: StepGraphShape) {
    const reason = graphSupport(s.config);
    if (reason !== undefined) throw new Error(reason);
    const b = (this.b = new GraphBuilder(addon));
    this.adam = s.adam;
    const { config: cfg, batchSize: B, channels: C } = s;
    const L = cfg.latentSize;
    const H = cfg.imageSize;
    this.x = b.placeholder([B, H, H, C]);
    this.eps = b.placeholder([B, L]);
    this.capacity = cfg.variant === 'annealed-vae' ? b.placeholder([]) : undefined;
    this.prior = cfg.variant === 'info-vae' ? b.placeholder([B, L]) : undefined;
    this.permutation = cfg.variant === 'factor-vae' ? b.placeholder([B * L], DT_INT32) : undefined;

    const vars = s.specs.map((sp) => b.variable(`${s.prefix}/${sp.name}`, sp.shape));
    const byName = new Map(s.specs.map((sp, i) => [sp.name, (vars[i] as { read: Node }).read]));
    const p = (name: string): Node => {
      const v = byName.get(name);
      if (v === undefined) throw new Error(`no parameter ${name}`);
      return v;
    };
    this.paramReads = vars.map((v) => v.read);

    // ---- forward (architecture.ts ConvVae.encode / decode) ----
    const tail = (y: Node, bias: string, relu: boolean): Node => {
      const z = b.biasAdd(y, p(bias));
      return relu ? b.relu(z) : z;
    };
    const residual = cfg.architecture === 'residual';
    const attention = cfg.architecture === 'attention';
    // SAGAN self-attention (architecture.ts ConvVae.attention op for op; Zhang et al. 2019 Eq. 1-3)
    const attend = (x: Node, name: string): Node => {
      const [bs, hh, ww, c] = x.shape as [number, number, number, number];
      const n = hh * ww;
      const ck = attentionKeyChannels(c);
      const rows = b.reshape(x, [bs * n, c]);
      const q = b.reshape(tail(b.matMul(rows, p(`${name}.q.w`)), `${name}.q.b`, false), [bs, n, ck]);
      const k = b.reshape(tail(b.matMul(rows, p(`${name}.k.w`)), `${name}.k.b`, false), [bs, n, ck]);
      const v = b.reshape(tail(b.matMul(rows, p(`${name}.v.w`)), `${name}.v.b`, false), [bs, n, c]);
      const a = b.softmax(b.batchMatMul(q, k, true)); // [B, N, N], rows sum to 1
      const o = b.reshape(b.batchMatMul(a, v), x.shape);
      return b.add(b.mul(o, b.reshape(p(`${name}.gamma`), [])), x);
    };
    let h = this.x;
    for (let i = 0; i < 4; i++) {
      h = tail(b.conv2d(h, p(`enc.conv${i}.w`), 2), `enc.conv${i}.b`, true);
      if (residual) h = tail(b.add(h, b.conv2d(h, p(`enc.res${i}.w`), 1)), `enc.res${i}.b`, true);
      if (attention && i === ATTENTION_STAGE) h = attend(h, 'enc.attn');
    }
    const flat = b.reshape(h, [B, h.shape.slice(1).reduce((x, y) => x * y, 1)]);
    const out = tail(b.matMul(tail(b.matMul(flat, p('enc.fc.w')), 'enc.fc.b', true), p('enc.out.w')), 'enc.out.b', false);
    let [mu, logvar] = b.splitColumns(out, [L, L]) as [Node, Node];
    const reparameterise = (m: Node, lv: Node): Node => b.add(m, b.mul(b.exp(b.mul(lv, b.constant(0.5))), this.eps));
    // DCIGN (src/model/dcign.ts): clamp the distribution parameters ('params') or the sampled code ('z')
    const dc = cfg.variant === 'dcign' ? (cfg.dcign ?? { clamp: 'mean' }) : undefined;
    this.freeMask = dc === undefined ? undefined : b.placeholder([1, L]);
    let z: Node;
    if (dc === undefined || this.freeMask === undefined) {
      z = reparameterise(mu, logvar);
      this.localClampTarget = this.clampTarget = undefined;
    } else {
      const free = this.freeMask;
      const scale = dc.clamp === 'mean' ? (dc.invarianceScale ?? 1 / B) : undefined;
      if ((dc.clampAt ?? 'params') === 'params') {
        this.localClampTarget = b.concat([b.clampTarget(mu, dc.clamp), b.clampTarget(logvar, dc.clamp)], 0);
        this.clampTarget = b.placeholderWithDefault(this.localClampTarget);
        mu = b.clamp(mu, free, b.rows(this.clampTarget, 0, 1), scale);
        logvar = b.clamp(logvar, free, b.rows(this.clampTarget, 1, 1), scale);
        z = reparameterise(mu, logvar);
      } else {
        const sampled = reparameterise(mu, logvar);
        this.localClampTarget = b.clampTarget(sampled, dc.clamp);
        this.clampTarget = b.placeholderWithDefault(this.localClampTarget);
        z = b.clamp(sampled, free, this.clampTarget, scale);
      }
    }
    let side = bottleneckSide(H);
    const h1 = tail(b.matMul(tail(b.matMul(z, p('dec.fc0.w')), 'dec.fc0.b', true), p('dec.fc1.w')), 'dec.fc1.b', true);
    let d = b.reshape(h1, [B, side, side, 64]);
    for (let i = 0; i < 4; i++) {
      if (residual) d = tail(b.add(d, b.conv2d(d, p(`dec.res${i}.w`), 1)), `dec.res${i}.b`, true);
      const w = p(`dec.deconv${i}.w`);
      side *= 2;
      d = tail(b.conv2dTranspose(d, w, [B, side, side, w.shape[2] as number], 2), `dec.deconv${i}.b`, i < 3);
      if (attention && i === ATTENTION_STAGE) d = attend(d, 'dec.attn');
    }

    // ---- loss (losses.ts elboParts, vae.ts loss) ----
    const batch = b.constant(B);
    let recon: Node;
    if (cfg.decoder === 'bernoulli') {
      recon = b.div(b.sigmoidCrossEntropySum(d, this.x), batch);
    } else {
      // dlib's l2 loss at the default sigma^2 = 1/2, no constant (losses.ts reconstructionLoss)
      const dev = b.div(b.sub(this.x, b.sigmoid(d)), b.constant(gaussianSigma(cfg)));
      recon = b.div(b.mul(b.sum(b.square(dev)), b.constant(0.5)), batch);
    }
    const terms = b.mul(b.sub(b.add(b.square(mu), b.exp(logvar)), b.add(logvar, b.constant(1))), b.constant(0.5));
    const klPerDim = b.meanRows(terms);
    const kl = b.sum(klPerDim);
    const regulariser =
      this.capacity === undefined
        ? b.mul(kl, b.constant(cfg.beta))
        : b.mul(b.abs(b.sub(kl, this.capacity)), b.constant(cfg.capacity?.gamma ?? 1));
    let head: Node[];
    let total: Node;
    // what the gradients are of: the loss, and FactorVAE's discriminator loss beside it (it reaches only D: step.ts)
    let objective: Node | undefined;
    if (cfg.variant === 'info-vae' && this.prior !== undefined) {
      // vae.ts info-vae, mmd.ts op for op: recon + (1 - alpha) KL + (alpha + lambda - 1) MMD(z, prior)
      const m = cfg.mmd ?? { kernel: 'imq', lambda: 1000, alpha: 1 };
      const dist = mmdGraph(b, z, this.prior, m.kernel);
      const reg = b.add(b.mul(kl, b.constant(1 - m.alpha)), b.mul(dist, b.constant(m.alpha + m.lambda - 1)));
      total = b.add(recon, reg);
      head = [total, recon, kl, reg, dist];
    } else if (cfg.variant === 'factor-vae' && this.permutation !== undefined) {
      // vae.ts factor-vae, factor-vae.ts op for op: recon + KL + gamma TC, TC from D's logits of z through D's
      // stopped weights; D's own loss on the stopped codes and their permutation moves only D
      const fv = cfg.factorVae ?? { gamma: 10 };
      const dParams = s.specs.flatMap((sp, i) => (sp.name.startsWith('disc.') ? [this.paramReads[i] as Node] : []));
      const logits = (h0: Node, frozen: boolean): Node => {
        const w = frozen ? dParams.map((x) => b.stopGradient(x)) : dParams;
        const layers = w.length / 2 - 1;
        let h = h0;
        for (let i = 0; i < layers; i++) h = b.leakyRelu(b.biasAdd(b.matMul(h, w[2 * i] as Node), w[2 * i + 1] as Node), 0.2);
        return b.biasAdd(b.matMul(h, w[2 * layers] as Node), w[2 * layers + 1] as Node);
      };
      const [l0, l1] = b.splitColumns(logits(z, true), [1, 1]) as [Node, Node];
      const tc = b.mean(b.sub(l0, l1));
      const zd = b.stopGradient(z);
      const both = logits(b.concat([zd, b.gatherFlat(zd, this.permutation.out, zd.shape)], 0), false);
      const [real, permuted] = b.splitRows(both, [B, B]) as [Node, Node];
      const real0 = b.mean(b.splitColumns(b.logSoftmax(real), [1, 1])[0] as Node);
      const perm1 = b.mean(b.splitColumns(b.logSoftmax(permuted), [1, 1])[1] as Node);
      const disc = b.mul(b.add(real0, perm1), b.constant(-0.5));
      const reg = b.add(kl, b.mul(tc, b.constant(fv.gamma)));
      total = b.add(recon, reg);
      objective = b.add(total, disc);
      head = [total, recon, kl, reg, tc, disc];
    } else if (cfg.variant === 'beta-tcvae') {
      // vae.ts beta-tcvae, beta-tcvae.ts op for op: recon + KL + (beta - 1) TC
      const tc = totalCorrelationGraph(b, z, mu, logvar);
      const reg = b.add(kl, b.mul(tc, b.constant(cfg.beta - 1)));
      total = b.add(recon, reg);
      head = [total, recon, kl, reg, tc];
    } else if (cfg.variant === 'dip-vae-i' || cfg.variant === 'dip-vae-ii') {
      // src/model/dip-vae.ts op for op: Kumar et al. 2018 Eq. 6 (I) / 7 (II), recon + KL + the covariance penalty
      const dp = cfg.dip ?? { lambdaOd: 1, lambdaDFactor: cfg.variant === 'dip-vae-i' ? 10 : 1 };
      const eye = b.constant(Float32Array.from({ length: L * L }, (_, i) => (i % (L + 1) === 0 ? 1 : 0)), [L, L]);
      const mean = b.meanRowsKeep(mu);
      const covMu = b.sub(b.div(b.matMulTA(mu, mu), b.constant(B)), b.matMulTA(mean, mean));
      const cov = cfg.variant === 'dip-vae-i' ? covMu : b.add(covMu, b.diag(b.meanRows(b.exp(logvar)), eye));
      const diag = b.sumColumns(b.mul(cov, eye));
      const offDiag = b.mul(cov, b.constant(Float32Array.from({ length: L * L }, (_, i) => (i % (L + 1) === 0 ? 0 : 1)), [L, L]));
      const penalty = b.add(b.mul(b.sum(b.square(offDiag)), b.constant(dp.lambdaOd)), b.mul(b.sum(b.square(b.sub(diag, b.constant(1)))), b.constant(dp.lambdaDFactor * dp.lambdaOd)));
      const reg = b.add(kl, penalty);
      total = b.add(recon, reg);
      head = [total, recon, kl, reg, penalty];
    } else {
      total = b.add(recon, regulariser);
      head = [total, recon, kl, regulariser];
    }
    this.scalars = b.concat([b.stack(head), klPerDim], 0);

    // ---- gradients, flat in parameter order (for the all-reduce) ----
    const grads = b.gradients(objective ?? total, this.paramReads);
    const sizes = s.specs.map((sp) => sp.shape.reduce((x, y) => x * y, 1));
    const n = sizes.reduce((x, y) => x + y, 0);
    this.flatGrad = b.concat(grads.map((g, i) => b.rawReshape(g, [sizes[i] as number])), 0);
    this.gradIn = b.placeholder([n]);
    const unflatten = (flatNode: Node): Node[] => b.splitFlat(flatNode, sizes).map((piece, i) => b.rawReshape(piece, (s.specs[i] as ParamSpec).shape));
    /** Nodes of parameters first, first + 1, ... concatenated flat. */
    const flatten = (nodes: readonly Node[], from = 0): Node => b.concat(nodes.map((x, i) => b.rawReshape(x, [sizes[from + i] as number])), 0);

    // ---- Adam: two updates of the same variables, from the graph's own gradients (train) or a fed flat one ----
    // Per parameter group (adam.ts: FactorVAE's discriminator has its own learning rate and betas): every group steps
    // at every update from the one gradient, each clipped by its own norm, as adam.ts applyFlat does.
    this.adamKernel = s.adamKernel ?? 'fused';
    let first = 0;
    this.adamGroups = (s.groups ?? [{ count: s.specs.length }]).map((gr) => {
      const group: AdamGroupGraph = {
        first,
        count: gr.count,
        cfg: { ...s.adam, ...gr.adam },
        stepSize: b.placeholder([]),
        biasCorrection2: b.placeholder([]),
        beta1Power: b.placeholder([]),
        beta2Power: b.placeholder([]),
        epsilonT: b.placeholder([]),
      };
      first += gr.count;
      return group;
    });
    if (first !== s.specs.length) throw new Error(`VaeStepGraph: parameter groups cover ${first} of ${s.specs.length} parameters`);
    const clip = (gs: readonly Node[], clipNorm: number | undefined): Node[] => {
      if (clipNorm === undefined || clipNorm <= 0) return [...gs];
      // adam.ts: g * min(1, clip / (||g|| + 1e-12)), the norm over all parameters of the group
      const sq = gs.map((g) => b.rawSum(b.raw('Square', [g], g.shape)));
      const norm = b.raw('Sqrt', [sq.length === 1 ? (sq[0] as Node) : b.addN(sq)], []);
      const scale = b.raw('Minimum', [b.constant(1), b.raw('RealDiv', [b.constant(clipNorm), b.raw('AddV2', [norm, b.constant(1e-12)], [])], [])], []);
      return gs.map((g) => b.rawMul(g, scale));
    };
    let update: (gs: readonly Node[]) => number;
    let loadMoments: (m: Node, v: Node) => number[];
    if (this.adamKernel === 'fused') {
      // TensorFlow's ResourceApplyAdam per parameter (one kernel: moments and parameter in place). It puts epsilon
      // outside the bias correction; fed epsilon * sqrt(1 - b2^t) it is PyTorch's (and adam.ts's) arrangement.
      const ms = s.specs.map((sp) => b.variable(`${s.prefix}/adam.m/${sp.name}`, sp.shape));
      const vs = s.specs.map((sp) => b.variable(`${s.prefix}/adam.v/${sp.name}`, sp.shape));
      this.momentReads = [flatten(ms.map((x) => x.read)), flatten(vs.map((x) => x.read))];
      update = (gs) =>
        b.group(
          this.adamGroups.flatMap((gr) => {
            const lr = b.constant(gr.cfg.learningRate);
            const [beta1, beta2] = [b.constant(gr.cfg.beta1), b.constant(gr.cfg.beta2)];
            return clip(gs.slice(gr.first, gr.first + gr.count), gr.cfg.clipNorm).map((g, j) => {
              const i = gr.first + j;
              return b.op(
                'ResourceApplyAdam',
                [vars[i]!.handle, ms[i]!.handle, vs[i]!.handle, gr.beta1Power.out, gr.beta2Power.out, lr.out, beta1.out, beta2.out, gr.epsilonT.out, g.out],
                [['T', 'type', DT_FLOAT], ['use_locking', 'bool', false], ['use_nesterov', 'bool', false]],
              );
            });
          }),
        );
      loadMoments = (m, v) => {
        const [mp, vp] = [unflatten(m), unflatten(v)];
        return [...ms.map((x, i) => b.assign(x.handle, mp[i] as Node)), ...vs.map((x, i) => b.assign(x.handle, vp[i] as Node))];
      };
    } else {
      // adam.ts groupStep op for op on flat moments: bit for bit the eager arithmetic, a dozen ops over all values
      const m = b.variable(`${s.prefix}/adam.m`, [n]);
      const v = b.variable(`${s.prefix}/adam.v`, [n]);
      this.momentReads = [m.read, v.read];
      const groupSizes = this.adamGroups.map((gr) => sizes.slice(gr.first, gr.first + gr.count).reduce((x, y) => x + y, 0));
      const single = this.adamGroups.length === 1;
      update = (gs) => {
        const [ms, vs] = single ? [[m.read], [v.read]] : [b.splitFlat(m.read, groupSizes), b.splitFlat(v.read, groupSizes)];
        const steps = this.adamGroups.map((gr, k) => {
          const k0 = groupSizes[k] as number;
          const g = clip([flatten(gs.slice(gr.first, gr.first + gr.count), gr.first)], gr.cfg.clipNorm)[0] as Node;
          const { beta1: b1, beta2: b2, epsilon } = gr.cfg;
          const m1 = b.raw('AddV2', [b.rawMul(ms[k] as Node, b.constant(b1)), b.rawMul(g, b.constant(1 - b1))], [k0]);
          const v1 = b.raw('AddV2', [b.rawMul(vs[k] as Node, b.constant(b2)), b.rawMul(b.raw('Square', [g], [k0]), b.constant(1 - b2))], [k0]);
          const denom = b.raw('AddV2', [b.raw('RealDiv', [b.raw('Sqrt', [v1], [k0]), gr.biasCorrection2], [k0]), b.constant(epsilon)], [k0]);
          return { m1, v1, step: b.rawMul(b.raw('RealDiv', [m1, denom], [k0]), gr.stepSize) };
        });
        const join = (xs: readonly Node[]): Node => (xs.length === 1 ? (xs[0] as Node) : b.concat(xs, 0));
        const pieces = unflatten(join(steps.map((x) => x.step)));
        return b.group([
          b.assign(m.handle, join(steps.map((x) => x.m1))),
          b.assign(v.handle, join(steps.map((x) => x.v1))),
          ...vars.map((vr, i) => b.assignSub(vr.handle, pieces[i] as Node)),
        ]);
      };
      loadMoments = (mIn, vIn) => [b.assign(m.handle, mIn), b.assign(v.handle, vIn)];
    }
    this.trainOp = update(grads);
    this.applyOp = update(unflatten(this.gradIn));

    // ---- host values in (initial parameters, a resumed checkpoint, a broadcast): flat, in parameter order ----
    this.loadInputs = [b.placeholder([n]), b.placeholder([n]), b.placeholder([n])];
    const [pIn, mIn, vIn] = this.loadInputs as [Node, Node, Node];
    const pieces = unflatten(pIn);
    this.loadOp = b.group([...vars.map((vr, i) => b.assign(vr.handle, pieces[i] as Node)), ...loadMoments(mIn, vIn)]);
    this.paramsFlat = flatten(this.paramReads);
  }

  /** Feeds of Adam's per-step values for update number t, per group (both kernels' placeholders; each runs with its own). */
  adamFeeds(t: number): [Output, number][] {
    return this.adamGroups.flatMap((gr): [Output, number][] => {
      const { learningRate: lr, beta1: b1, beta2: b2, epsilon } = gr.cfg;
      const bc2 = Math.sqrt(1 - b2 ** t);
      return [
        [gr.stepSize.out, lr / (1 - b1 ** t)],
        [gr.biasCorrection2.out, bc2],
        [gr.beta1Power.out, b1 ** t],
        [gr.beta2Power.out, b2 ** t],
        [gr.epsilonT.out, epsilon * bc2],
      ];
    });
  }

  /** Parameter count (the flat gradient's length). */
  get size(): number {
    return this.flatGrad.shape[0] as number;
  }
}

/**
 * Unbiased MMD^2 between q [n, L] and p [n, L], mmd.ts op for op (Zhao et al. 2017 Eq. 7; Gretton et al. 2012
 * Lemma 6): squared distances relu(|a|^2 + |b|^2^T - 2 a b^T), kernel imq C / (C + d2) or rbf exp(-d2 / C), C = 2 L.
 */
function mmdGraph(b: GraphBuilder, q: Node, p: Node, kind: 'imq' | 'rbf'): Node {
  const [n, L] = q.shape as [number, number];
  const c = 2 * L;
  const sqDistances = (x: Node, y: Node): Node => {
    const xx = b.broadcastTo(b.sumAxis(b.square(x), 1, true), [n, n]);
    const yy = b.broadcastTo(b.reshape(b.sumAxis(b.square(y), 1, true), [1, n]), [n, n]);
    return b.relu(b.sub(b.add(xx, yy), b.mul(b.matMulTB(x, y), b.constant(2))));
  };
  const kernel = (d2: Node): Node => (kind === 'imq' ? b.scalarOver(c, b.add(d2, b.constant(c))) : b.exp(b.div(d2, b.constant(-c))));
  const offDiag = b.constant(Float32Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 0 : 1)), [n, n]);
  const kqq = b.div(b.sum(b.mul(kernel(sqDistances(q, q)), offDiag)), b.constant(n * (n - 1)));
  const kpp = b.div(b.sum(b.mul(kernel(sqDistances(p, p)), offDiag)), b.constant(n * (n - 1)));
  const kqp = b.div(b.sum(kernel(sqDistances(q, p))), b.constant(n * n));
  return b.sub(b.add(kqq, kpp), b.mul(kqp, b.constant(2)));
}

/**
 * beta-TCVAE's minibatch-weighted total correlation, beta-tcvae.ts op for op (Chen et al. 2018 Sec. 3.1, Eq. S6):
 * log q(z_jl | x_i) over [j, i, l], then mean_j [logsumexp_i sum_l - sum_l logsumexp_i].
 */
function totalCorrelationGraph(b: GraphBuilder, z: Node, mu: Node, logvar: Node): Node {
  const [B, L] = z.shape as [number, number];
  const cube = [B, B, L];
  const rowsOf = (x: Node): Node => b.broadcastTo(b.reshape(x, [B, 1, L]), cube); // x_j at [j, i, l]
  const colsOf = (x: Node): Node => b.broadcastTo(b.reshape(x, [1, B, L]), cube); // x_i at [j, i, l]
  const d = b.sub(rowsOf(z), colsOf(mu));
  const invVar = colsOf(b.exp(b.mul(logvar, b.constant(-1))));
  const logq = b.mul(b.add(b.add(b.mul(b.square(d), invVar), colsOf(logvar)), b.constant(Math.log(2 * Math.PI))), b.constant(-0.5));
  const logQz = b.logSumExp(b.sumAxis(logq, 2, false), 1);
  const logQzProduct = b.sumAxis(b.logSumExp(logq, 1), 1, false);
  return b.mean(b.sub(logQz, logQzProduct));
}
