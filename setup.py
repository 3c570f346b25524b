"""The compiled part of segmentkit: the Lloyd pass of its k-means
(``src/segmentkit/algorithms/_lloyd_kernel.c``). Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "segmentkit.algorithms._lloyd_kernel",
            ["src/segmentkit/algorithms/_lloyd_kernel.c"],
            # -ffp-contract=off: no fused multiply-add but the source's own, in the copies for
            # CPUs that have it (so those CPUs all give the same bits; see the source's header);
            # -Wno-psabi: GCC's note that vectors of 64 bytes pass differently since GCC 4.6
            # (every function taking them is inlined)
            extra_compile_args=["-O3", "-ffp-contract=off", "-std=gnu11", "-Wall", "-Wno-psabi"],
        )
    ],
)
