#!/usr/bin/env python3
"""Keras yardstick for bench/train.ts: the standard beta-VAE architecture (Higgins et al. 2017; Locatello et al. 2019),
the twin of bench/torch_vae_bench.py, in Keras 3 on tensorflow-cpu==2.21.0 -- the same TensorFlow
kernels our tfjs-node binding calls, so a gap between it and us is our own overhead.

NHWC (TensorFlow's CPU layout), padding 'same' (= PyTorch padding 1 for 4x4 stride 2), sum-over-pixels sigmoid
cross-entropy + beta * KL, mean over the batch, Adam lr 1e-4, one tf.function train step (graph mode, no XLA).
Model family: --variant and --architecture as bench/torch_vae_bench.py (the same losses, layers and flags): DCIGN's clamp
as a tf.custom_gradient (the varied factor's free-latent mask fed to the step as a tensor, so the step traces once),
InfoVAE's IMQ-kernel MMD against a prior sample drawn in the step, annealed-vae's capacity fed as a tensor.
Prints one JSON line: {"framework": "keras", "img_per_s": ..., "ms_per_step": ...}.
"""
import argparse, json, os, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--beta", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0 = TensorFlow default")
    p.add_argument("--eager", action="store_true", help="run the step op by op (as tfjs does) instead of as a tf.function graph")
    p.add_argument("--variant", default="beta-vae", choices=["beta-vae", "beta-tcvae", "dip-vae-i", "dip-vae-ii", "factor-vae", "info-vae", "annealed-vae", "dcign"])
    p.add_argument("--architecture", default="standard", choices=["standard", "residual", "attention"])
    p.add_argument("--gamma", type=float, default=10.0, help="factor-vae TC weight")
    p.add_argument("--lambda-od", type=float, default=10.0, help="dip-vae lambda_od (lambda_d = 10x for -i, 1x for -ii)")
    p.add_argument("--mmd-lambda", type=float, default=1000.0, help="info-vae lambda (src/model/config.ts DEFAULT_MMD)")
    p.add_argument("--mmd-alpha", type=float, default=1.0, help="info-vae alpha (KL weight 1 - alpha)")
    p.add_argument("--capacity-gamma", type=float, default=1000.0, help="annealed-vae gamma (DEFAULT_CAPACITY)")
    p.add_argument("--c-max", type=float, default=25.0, help="annealed-vae C_max")
    p.add_argument("--c-steps", type=float, default=100000.0, help="annealed-vae steps to C_max")
    p.add_argument("--factors", type=int, default=3, help="dcign: factors, one latent each, the varied one cycling per step")
    a = p.parse_args()
    import math
    import tensorflow as tf
    import keras
    from keras import layers

    class SelfAttention(layers.Layer):
        """SAGAN self-attention (Zhang et al. 2019): y = gamma * softmax(q k^T) v + x, gamma from 0."""

        def build(self, shape):
            c = shape[-1]
            self.q, self.k, self.v = layers.Dense(max(1, c // 8)), layers.Dense(max(1, c // 8)), layers.Dense(c)
            self.gamma = self.add_weight(shape=(1,), initializer="zeros")

        def call(self, x):
            s = tf.shape(x)
            c = x.shape[-1]
            flat = tf.reshape(x, (s[0], s[1] * s[2], c))
            att = tf.nn.softmax(tf.matmul(self.q(flat), self.k(flat), transpose_b=True))
            return self.gamma * tf.reshape(tf.matmul(att, self.v(flat)), s) + x

    def residual(h, c):
        return layers.ReLU()(layers.Add()([h, layers.Conv2D(c, 3, 1, "same")(h)]))

    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    L, C = a.latent, a.channels
    arch = a.architecture
    inp = keras.Input((64, 64, C))
    h = inp
    for i, c in enumerate([32, 32, 64, 64]):
        h = layers.Conv2D(c, 4, 2, "same", activation="relu")(h)
        if arch == "residual":
            h = residual(h, c)
        if arch == "attention" and i == 1:
            h = SelfAttention()(h)
    h = layers.Dense(2 * L)(layers.Dense(256, activation="relu")(layers.Flatten()(h)))
    enc = keras.Model(inp, h)
    zin = keras.Input((L,))
    h = layers.Reshape((4, 4, 64))(layers.Dense(4 * 4 * 64, activation="relu")(layers.Dense(256, activation="relu")(zin)))
    for i, (cin, cout) in enumerate([(64, 64), (64, 32), (32, 32), (32, C)]):
        if arch == "residual":
            h = residual(h, cin)
        h = layers.Conv2DTranspose(cout, 4, 2, "same", activation="relu" if i < 3 else None)(h)
        if arch == "attention" and i == 1:
            h = SelfAttention()(h)
    dec = keras.Model(zin, h)
    disc = None
    if a.variant == "factor-vae":
        disc = keras.Sequential([keras.Input((L,))] + [layers.Dense(1000, activation=lambda t: tf.nn.leaky_relu(t, 0.2)) for _ in range(6)] + [layers.Dense(2)])
        disc_opt = keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9)

    def total_correlation(z, mu, logvar):
        d = z[:, None, :] - mu[None, :, :]
        lq = -0.5 * (d * d * tf.exp(-logvar[None]) + logvar[None] + math.log(2 * math.pi))
        return tf.reduce_mean(tf.reduce_logsumexp(tf.reduce_sum(lq, 2), 1) - tf.reduce_sum(tf.reduce_logsumexp(lq, 1), 1))

    def dip_penalty(mu, logvar, kind):
        m = tf.reduce_mean(mu, 0, keepdims=True)
        cov = tf.matmul(mu, mu, transpose_a=True) / a.batch - tf.matmul(m, m, transpose_a=True)
        if kind == "ii":
            cov = cov + tf.linalg.diag(tf.reduce_mean(tf.exp(logvar), 0))
        diag = tf.linalg.diag_part(cov)
        lambda_d = (10.0 if kind == "i" else 1.0) * a.lambda_od
        return a.lambda_od * tf.reduce_sum(tf.square(cov - tf.linalg.diag(diag))) + lambda_d * tf.reduce_sum(tf.square(diag - 1))

    def mmd_imq(q, p):
        """Unbiased MMD^2 with k(x, y) = C / (C + ||x - y||^2), C = 2 L: src/model/mmd.ts."""
        n = a.batch
        c = 2.0 * L
        off = 1.0 - tf.eye(n)

        def k(u, v):
            d2 = tf.nn.relu(tf.reduce_sum(u * u, 1, keepdims=True) + tf.transpose(tf.reduce_sum(v * v, 1, keepdims=True)) - 2.0 * tf.matmul(u, v, transpose_b=True))
            return c / (c + d2)

        return tf.reduce_sum(k(q, q) * off) / (n * (n - 1)) + tf.reduce_sum(k(p, p) * off) / (n * (n - 1)) - 2.0 * tf.reduce_sum(k(q, p)) / (n * n)

    @tf.custom_gradient
    def clamp(v, free):
        """DCIGN's clamp (src/model/dcign.ts, mode 'mean'): clamped latents take the batch mean; their gradient is
        replaced by (v - mean) / B, the free ones pass dy."""
        target = tf.reduce_mean(v, 0, keepdims=True)

        def grad(dy):
            return dy * free + (v - target) * (1.0 - free) / a.batch, tf.zeros_like(free)

        return v * free + target * (1.0 - free), grad

    opt = keras.optimizers.Adam(1e-4)
    variables = enc.trainable_variables + dec.trainable_variables
    x = tf.cast(tf.random.uniform((a.batch, 64, 64, C)) > 0.5, tf.float32)

    def step(x, free, capacity):
        with tf.GradientTape(persistent=disc is not None) as tape:
            h = enc(x, training=True)
            mu, logvar = h[:, :L], h[:, L:]
            if a.variant == "dcign":
                mu, logvar = clamp(mu, free), clamp(logvar, free)
            z = mu + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mu))
            logits = dec(z, training=True)
            rec = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)) / a.batch
            kl = 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(logvar) - 1 - logvar) / a.batch
            if a.variant in ("beta-vae", "dcign"):
                loss = rec + a.beta * kl
            elif a.variant == "info-vae":
                prior = tf.random.normal(tf.shape(z))
                loss = rec + (1 - a.mmd_alpha) * kl + (a.mmd_alpha + a.mmd_lambda - 1) * mmd_imq(z, prior)
            elif a.variant == "annealed-vae":
                loss = rec + a.capacity_gamma * tf.abs(kl - capacity)
            elif a.variant == "beta-tcvae":
                loss = rec + kl + (a.beta - 1) * total_correlation(z, mu, logvar)
            elif a.variant in ("dip-vae-i", "dip-vae-ii"):
                loss = rec + kl + dip_penalty(mu, logvar, a.variant[len("dip-vae-"):])
            else:  # factor-vae
                d = disc(z, training=True)
                loss = rec + kl + a.gamma * tf.reduce_mean(d[:, 0] - d[:, 1])
                zd = tf.stop_gradient(z)
                perm = tf.stack([tf.gather(zd[:, l], tf.random.shuffle(tf.range(a.batch))) for l in range(L)], 1)
                both = tf.nn.log_softmax(disc(tf.concat([zd, perm], 0), training=True))
                d_loss = -0.5 * (tf.reduce_mean(both[: a.batch, 0]) + tf.reduce_mean(both[a.batch:, 1]))
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        if disc is not None:
            disc_opt.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables))
            del tape
        return loss

    if not a.eager:
        step = tf.function(step)
    # DCIGN: batch s varies factor s % factors, which owns latent s % factors (the masks made ahead, off the clock)
    masks = [tf.constant([[1.0 if l == f else 0.0 for l in range(L)]]) for f in range(a.factors)]

    def run(s):
        return step(x, masks[s % a.factors], tf.constant(a.c_max * min(1.0, s / a.c_steps), tf.float32))

    for s in range(a.warmup):
        run(s).numpy()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for s in range(a.warmup, a.warmup + a.steps):
        loss = run(s)
    loss.numpy()
    dt = (time.perf_counter() - t0) / a.steps
    cpu = (time.process_time() - c0) / a.steps
    print(json.dumps({"framework": "keras", "eager": a.eager, "variant": a.variant, "architecture": a.architecture, "tensorflow": tf.__version__, "keras": keras.__version__,
                      "threads": a.threads or None, "batch": a.batch, "latent": a.latent,
                      "ms_per_step": round(dt * 1000, 2), "img_per_s": round(a.batch / dt, 1),
                      "cpu_ms_per_step": round(cpu * 1000, 1)}))


if __name__ == "__main__":
    main()
