#!/usr/bin/env python3
"""Keras yardstick for bench/train.ts: the standard beta-VAE architecture (Higgins et al. 2017; Locatello et al. 2019),
the twin of bench/torch_vae_bench.py, in Keras 3 on tensorflow-cpu==2.21.0 -- the same TensorFlow
kernels our tfjs-node binding calls, so a gap between it and us is our own overhead.

NHWC (TensorFlow's CPU layout), padding 'same' (= PyTorch padding 1 for 4x4 stride 2), sum-over-pixels sigmoid
cross-entropy + beta * KL, mean over the batch, Adam lr 1e-4, one tf.function train step (graph mode, no XLA).
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
    a = p.parse_args()
    import tensorflow as tf
    import keras
    from keras import layers

    if a.threads:
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    L, C = a.latent, a.channels
    enc = keras.Sequential([
        keras.Input((64, 64, C)),
        layers.Conv2D(32, 4, 2, "same", activation="relu"),
        layers.Conv2D(32, 4, 2, "same", activation="relu"),
        layers.Conv2D(64, 4, 2, "same", activation="relu"),
        layers.Conv2D(64, 4, 2, "same", activation="relu"),
        layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(2 * L)])
    dec = keras.Sequential([
        keras.Input((L,)),
        layers.Dense(256, activation="relu"), layers.Dense(4 * 4 * 64, activation="relu"),
        layers.Reshape((4, 4, 64)),
        layers.Conv2DTranspose(64, 4, 2, "same", activation="relu"),
        layers.Conv2DTranspose(32, 4, 2, "same", activation="relu"),
        layers.Conv2DTranspose(32, 4, 2, "same", activation="relu"),
        layers.Conv2DTranspose(C, 4, 2, "same")])
    opt = keras.optimizers.Adam(1e-4)
    variables = enc.trainable_variables + dec.trainable_variables
    x = tf.cast(tf.random.uniform((a.batch, 64, 64, C)) > 0.5, tf.float32)

    def step(x):
        with tf.GradientTape() as tape:
            h = enc(x, training=True)
            mu, logvar = h[:, :L], h[:, L:]
            z = mu + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mu))
            logits = dec(z, training=True)
            rec = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)) / a.batch
            kl = 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(logvar) - 1 - logvar) / a.batch
            loss = rec + a.beta * kl
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss

    if not a.eager:
        step = tf.function(step)
    for _ in range(a.warmup):
        step(x).numpy()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(a.steps):
        loss = step(x)
    loss.numpy()
    dt = (time.perf_counter() - t0) / a.steps
    cpu = (time.process_time() - c0) / a.steps
    print(json.dumps({"framework": "keras", "eager": a.eager, "tensorflow": tf.__version__, "keras": keras.__version__,
                      "threads": a.threads or None, "batch": a.batch, "latent": a.latent,
                      "ms_per_step": round(dt * 1000, 2), "img_per_s": round(a.batch / dt, 1),
                      "cpu_ms_per_step": round(cpu * 1000, 1)}))


if __name__ == "__main__":
    main()
