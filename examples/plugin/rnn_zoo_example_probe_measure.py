"""The engine side of the example probe: keras.ops only, compiled into the probe program."""

from keras import ops


def measure(ctx):
    def output_rms(tv, ntv, x, y):
        pred = ctx.predict(tv, ntv, x)
        return {"output_rms": ops.sqrt(ops.mean(ops.square(pred)))}

    return output_rms
