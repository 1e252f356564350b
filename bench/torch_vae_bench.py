#!/usr/bin/env python3
"""PyTorch yardstick for bench/train.ts: training throughput (images/s) of the standard beta-VAE architecture
(Higgins et al. 2017; Locatello et al. 2019), on the CPU, in eager PyTorch.

Same CLI and output contract as bench/keras_vae_bench.py, so bench/train.ts can run both the same way:
  encoder  4 x Conv2d 4x4 stride 2 padding 1 (32, 32, 64, 64; ReLU) -> Linear 256 (ReLU) -> Linear 2L (mean, log-variance)
  decoder  Linear 256 (ReLU) -> Linear 4*4*64 (ReLU) -> 4 x ConvTranspose2d 4x4 stride 2 padding 1 (64, 32, 32; ReLU) -> C
  loss     Bernoulli logits: sigmoid cross-entropy summed over pixels + beta * KL(q(z|x) || N(0, I)), mean over the batch
  Adam lr 1e-4; one fixed binary batch, fresh reparameterisation noise every step.
NCHW, PyTorch's native layout (padding 1 gives the same 64 -> 32 -> 16 -> 8 -> 4 shapes as TensorFlow's 'same').
Prints one JSON line: {"framework": "torch", "img_per_s": ..., "ms_per_step": ..., "cpu_ms_per_step": ...}.
"""
import argparse
import json
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--beta", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0 = PyTorch default")
    return p.parse_args()


def make_model(torch, latent, channels):
    nn = torch.nn

    class Vae(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [channels, 32, 32, 64, 64]
            self.convs = nn.ModuleList(nn.Conv2d(i, o, 4, stride=2, padding=1) for i, o in zip(widths, widths[1:]))
            self.enc_hidden = nn.Linear(64 * 4 * 4, 256)
            self.enc_out = nn.Linear(256, 2 * latent)
            self.dec_hidden = nn.Linear(latent, 256)
            self.dec_grid = nn.Linear(256, 64 * 4 * 4)
            widths = [64, 64, 32, 32, channels]
            self.deconvs = nn.ModuleList(
                nn.ConvTranspose2d(i, o, 4, stride=2, padding=1) for i, o in zip(widths, widths[1:]))

        def encode(self, x):
            for conv in self.convs:
                x = torch.relu(conv(x))
            h = self.enc_out(torch.relu(self.enc_hidden(x.flatten(1))))
            return h[:, :latent], h[:, latent:]

        def decode(self, z):
            h = torch.relu(self.dec_grid(torch.relu(self.dec_hidden(z))))
            h = h.view(-1, 64, 4, 4)
            last = len(self.deconvs) - 1
            for i, deconv in enumerate(self.deconvs):
                h = deconv(h)
                if i < last:  # the last layer gives logits
                    h = torch.relu(h)
            return h

    return Vae()


def main():
    a = parse_args()
    import torch  # after argument parsing, so --help answers without the (slow) import
    import torch.nn.functional as F

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = make_model(torch, a.latent, a.channels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = (torch.rand(a.batch, a.channels, 64, 64) > 0.5).float()

    def train_step():
        mu, logvar = model.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = model.decode(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / a.batch
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum() / a.batch
        loss = recon + a.beta * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
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
        "batch": a.batch, "latent": a.latent, "loss": round(final, 3),
        "ms_per_step": round(wall * 1000, 2), "img_per_s": round(a.batch / wall, 1),
        "cpu_ms_per_step": round(cpu * 1000, 1),
    }))


if __name__ == "__main__":
    main()
