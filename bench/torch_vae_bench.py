#!/usr/bin/env python3
"""PyTorch yardstick for bench/train.ts: training throughput (images/s) of the standard beta-VAE architecture
(Higgins et al. 2017; Locatello et al. 2019), on the CPU, in eager PyTorch.

Same CLI and output contract as bench/keras_vae_bench.py, so bench/train.ts can run both the same way:
  encoder  4 x Conv2d 4x4 stride 2 padding 1 (32, 32, 64, 64; ReLU) -> Linear 256 (ReLU) -> Linear 2L (mean, log-variance)
  decoder  Linear 256 (ReLU) -> Linear 4*4*64 (ReLU) -> 4 x ConvTranspose2d 4x4 stride 2 padding 1 (64, 32, 32; ReLU) -> C
  loss     Bernoulli logits: sigmoid cross-entropy summed over pixels + beta * KL(q(z|x) || N(0, I)), mean over the batch
  Adam lr 1e-4; one fixed binary batch, fresh reparameterisation noise every step.
NCHW, PyTorch's native layout (padding 1 gives the same 64 -> 32 -> 16 -> 8 -> 4 shapes as TensorFlow's 'same').
Model family (--variant, --architecture; the twins of src/model, same flags as bench/keras_vae_bench.py):
  variants       beta-vae (recon + beta KL), beta-tcvae (recon + KL + (beta - 1) TC, minibatch-weighted sampling),
                 dip-vae-i / dip-vae-ii (recon + KL + lambda_od sum offdiag(C)^2 + lambda_d sum (diag(C) - 1)^2),
                 factor-vae (recon + KL + gamma TC from a 6 x 1000 leaky-ReLU discriminator on permuted codes, trained
                 alongside with its own Adam(1e-4, betas 0.5, 0.9)),
                 info-vae (Zhao et al. 2017, Eq. 7: recon + (1 - alpha) KL + (alpha + lambda - 1) MMD(z, prior), the
                 unbiased MMD^2 with the inverse multiquadratic kernel C / (C + ||x - y||^2), C = 2 L, as src/model/mmd.ts),
                 annealed-vae (Burgess et al. 2018, Eq. 8: recon + gamma |KL - C|, C = c_max min(1, step / c_steps)),
                 dcign (Kulkarni et al. 2015, Sec. 3.1, as src/model/dcign.ts with its defaults: each batch varies one
                 of --factors factors, cycling per step, factor i owning latent i; every other latent of the encoder's
                 mean and log-variance is clamped to its batch mean before the reparameterisation, and its gradient is
                 replaced by (v - mean) / B; recon + beta KL of the clamped q)
  architectures  standard; residual (ReLU(h + conv3x3(h)) after each encoder conv and before each transposed conv);
                 attention (SAGAN block: 1x1 query/key C/8, value C, softmax over positions, gamma from 0, after the
                 second conv and the second transposed conv)
Prints one JSON line: {"framework": "torch", "img_per_s": ..., "ms_per_step": ..., "cpu_ms_per_step": ...}.
"""
import argparse
import json
import time


VARIANTS = ["beta-vae", "beta-tcvae", "dip-vae-i", "dip-vae-ii", "factor-vae", "info-vae", "annealed-vae", "dcign"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--beta", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0 = PyTorch default")
    p.add_argument("--variant", default="beta-vae", choices=VARIANTS)
    p.add_argument("--architecture", default="standard", choices=["standard", "residual", "attention"])
    p.add_argument("--gamma", type=float, default=10.0, help="factor-vae TC weight")
    p.add_argument("--lambda-od", type=float, default=10.0, help="dip-vae lambda_od (lambda_d = 10x for -i, 1x for -ii)")
    p.add_argument("--mmd-lambda", type=float, default=1000.0, help="info-vae lambda (src/model/config.ts DEFAULT_MMD)")
    p.add_argument("--mmd-alpha", type=float, default=1.0, help="info-vae alpha (KL weight 1 - alpha)")
    p.add_argument("--capacity-gamma", type=float, default=1000.0, help="annealed-vae gamma (DEFAULT_CAPACITY)")
    p.add_argument("--c-max", type=float, default=25.0, help="annealed-vae C_max")
    p.add_argument("--c-steps", type=float, default=100000.0, help="annealed-vae steps to C_max")
    p.add_argument("--factors", type=int, default=3, help="dcign: factors, one latent each, the varied one cycling per step")
    return p.parse_args()


def make_model(torch, latent, channels, architecture="standard"):
    nn = torch.nn

    class Attention(nn.Module):
        """SAGAN self-attention (Zhang et al. 2019): y = gamma * softmax(q k^T) v + x, gamma from 0."""

        def __init__(self, c):
            super().__init__()
            ck = max(1, c // 8)
            self.q, self.k, self.v = nn.Conv2d(c, ck, 1), nn.Conv2d(c, ck, 1), nn.Conv2d(c, c, 1)
            self.gamma = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            b, c, h, w = x.shape
            q = self.q(x).flatten(2).transpose(1, 2)  # B, N, C/8
            k = self.k(x).flatten(2)  # B, C/8, N
            a = torch.softmax(q @ k, dim=-1)  # B, N, N
            o = (self.v(x).flatten(2) @ a.transpose(1, 2)).view(b, c, h, w)
            return self.gamma * o + x

    class Vae(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [channels, 32, 32, 64, 64]
            self.convs = nn.ModuleList(nn.Conv2d(i, o, 4, stride=2, padding=1) for i, o in zip(widths, widths[1:]))
            self.res = nn.ModuleList(nn.Conv2d(o, o, 3, padding=1) for o in widths[1:]) if architecture == "residual" else None
            self.enc_attn = Attention(32) if architecture == "attention" else None
            self.enc_hidden = nn.Linear(64 * 4 * 4, 256)
            self.enc_out = nn.Linear(256, 2 * latent)
            self.dec_hidden = nn.Linear(latent, 256)
            self.dec_grid = nn.Linear(256, 64 * 4 * 4)
            widths = [64, 64, 32, 32, channels]
            self.deconvs = nn.ModuleList(
                nn.ConvTranspose2d(i, o, 4, stride=2, padding=1) for i, o in zip(widths, widths[1:]))
            self.dres = nn.ModuleList(nn.Conv2d(i, i, 3, padding=1) for i in widths[:-1]) if architecture == "residual" else None
            self.dec_attn = Attention(32) if architecture == "attention" else None

        def encode(self, x):
            for i, conv in enumerate(self.convs):
                x = torch.relu(conv(x))
                if self.res is not None:
                    x = torch.relu(x + self.res[i](x))
                if self.enc_attn is not None and i == 1:
                    x = self.enc_attn(x)
            h = self.enc_out(torch.relu(self.enc_hidden(x.flatten(1))))
            return h[:, :latent], h[:, latent:]

        def decode(self, z):
            h = torch.relu(self.dec_grid(torch.relu(self.dec_hidden(z))))
            h = h.view(-1, 64, 4, 4)
            last = len(self.deconvs) - 1
            for i, deconv in enumerate(self.deconvs):
                if self.dres is not None:
                    h = torch.relu(h + self.dres[i](h))
                h = deconv(h)
                if i < last:  # the last layer gives logits
                    h = torch.relu(h)
                if self.dec_attn is not None and i == 1:
                    h = self.dec_attn(h)
            return h

    return Vae()


def make_discriminator(torch, latent, hidden=1000, layers=6):
    nn = torch.nn
    mods, n = [], latent
    for _ in range(layers):
        mods += [nn.Linear(n, hidden), nn.LeakyReLU(0.2)]
        n = hidden
    return nn.Sequential(*mods, nn.Linear(n, 2))


def total_correlation(torch, z, mu, logvar):
    """Minibatch-weighted sampling (Chen et al. 2018), without the (L - 1) log(N M) constant."""
    import math
    d = z.unsqueeze(1) - mu.unsqueeze(0)  # [j, i, l]
    lq = -0.5 * (d * d * torch.exp(-logvar.unsqueeze(0)) + logvar.unsqueeze(0) + math.log(2 * math.pi))
    return (torch.logsumexp(lq.sum(2), 1) - torch.logsumexp(lq, 1).sum(1)).mean()


def dip_penalty(torch, mu, logvar, kind, lambda_od):
    m = mu.mean(0, keepdim=True)
    cov = mu.t() @ mu / mu.shape[0] - m.t() @ m
    if kind == "ii":
        cov = cov + torch.diag(logvar.exp().mean(0))
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    lambda_d = (10.0 if kind == "i" else 1.0) * lambda_od
    return lambda_od * (off ** 2).sum() + lambda_d * ((diag - 1) ** 2).sum()


def mmd_imq(torch, q, p):
    """Unbiased MMD^2 (Gretton et al. 2012, Lemma 6) with k(x, y) = C / (C + ||x - y||^2), C = 2 L: src/model/mmd.ts."""
    n, latent = q.shape
    c = 2.0 * latent
    off = 1.0 - torch.eye(n)

    def k(a, b):
        d2 = torch.relu((a * a).sum(1, keepdim=True) + (b * b).sum(1, keepdim=True).t() - 2.0 * (a @ b.t()))
        return c / (c + d2)

    return (k(q, q) * off).sum() / (n * (n - 1)) + (k(p, p) * off).sum() / (n * (n - 1)) - 2.0 * k(q, p).sum() / (n * n)


def make_clamp(torch):
    """DCIGN's clamp (src/model/dcign.ts dcignClamp, mode 'mean'): forward v * free + mean_batch(v) * (1 - free);
    backward dy for free latents, scale * (v - mean) for clamped ones (the decoder's and KL's gradient replaced)."""

    class Clamp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, v, free, scale):
            target = v.mean(0, keepdim=True)
            ctx.save_for_backward(v, free, target)
            ctx.scale = scale
            return v * free + target * (1.0 - free)

        @staticmethod
        def backward(ctx, dy):
            v, free, target = ctx.saved_tensors
            return dy * free + ctx.scale * (v - target) * (1.0 - free), None, None

    return Clamp.apply


def main():
    a = parse_args()
    import torch  # after argument parsing, so --help answers without the (slow) import
    import torch.nn.functional as F

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = make_model(torch, a.latent, a.channels, a.architecture)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    disc = make_discriminator(torch, a.latent) if a.variant == "factor-vae" else None
    disc_opt = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.9)) if disc is not None else None
    x = (torch.rand(a.batch, a.channels, 64, 64) > 0.5).float()
    clamp = make_clamp(torch) if a.variant == "dcign" else None
    step_no = [0]

    def train_step():
        s = step_no[0]
        step_no[0] += 1
        mu, logvar = model.encode(x)
        if clamp is not None:  # this batch varies factor s % factors, which owns latent s % factors
            free = torch.zeros(1, a.latent)
            free[0, s % a.factors] = 1.0
            mu, logvar = clamp(mu, free, 1.0 / a.batch), clamp(logvar, free, 1.0 / a.batch)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = model.decode(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / a.batch
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum() / a.batch
        if a.variant in ("beta-vae", "dcign"):
            loss = recon + a.beta * kl
        elif a.variant == "info-vae":
            prior = torch.randn_like(z)
            loss = recon + (1 - a.mmd_alpha) * kl + (a.mmd_alpha + a.mmd_lambda - 1) * mmd_imq(torch, z, prior)
        elif a.variant == "annealed-vae":
            c = a.c_max * min(1.0, s / a.c_steps)
            loss = recon + a.capacity_gamma * (kl - c).abs()
        elif a.variant == "beta-tcvae":
            loss = recon + kl + (a.beta - 1) * total_correlation(torch, z, mu, logvar)
        elif a.variant in ("dip-vae-i", "dip-vae-ii"):
            loss = recon + kl + dip_penalty(torch, mu, logvar, a.variant[len("dip-vae-"):], a.lambda_od)
        else:  # factor-vae
            d = disc(z)
            loss = recon + kl + a.gamma * (d[:, 0] - d[:, 1]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if disc is not None:
            zd = z.detach()
            perm = torch.stack([zd[torch.randperm(a.batch), l] for l in range(a.latent)], 1)
            both = torch.log_softmax(disc(torch.cat([zd, perm])), 1)
            d_loss = -0.5 * (both[: a.batch, 0].mean() + both[a.batch:, 1].mean())
            disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            disc_opt.step()
        opt.step()
        return loss

    for _ in range(a.warmup):
        train_step().item()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(a.steps):
        loss = train_step()
    # Read the loss once at the end, as the Keras twin and ours do (eager CPU PyTorch is synchronous anyway).
    final = loss.item()
    wall = (time.perf_counter() - wall0) / a.steps
    cpu = (time.process_time() - cpu0) / a.steps
    print(json.dumps({
        "framework": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "variant": a.variant, "architecture": a.architecture,
        "batch": a.batch, "latent": a.latent, "loss": round(final, 3),
        "ms_per_step": round(wall * 1000, 2), "img_per_s": round(a.batch / wall, 1),
        "cpu_ms_per_step": round(cpu * 1000, 1),
    }))


if __name__ == "__main__":
    main()
