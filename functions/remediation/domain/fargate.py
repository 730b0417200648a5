"""Valid Fargate task sizes, and the next one up for a CPU-bound service at its scaling cap."""

from __future__ import annotations

# CPU units -> (minimum, maximum) memory in MiB (AWS Fargate task size table).
_MEMORY_RANGE = {
    256: (512, 2048),
    512: (1024, 4096),
    1024: (2048, 8192),
    2048: (4096, 16384),
    4096: (8192, 30720),
    8192: (16384, 61440),
    16384: (32768, 122880),
}


def next_size(cpu: int, memory: int) -> tuple[int, int] | None:
    """Double the CPU and keep the memory/CPU ratio, clamped to what Fargate accepts; None at the largest."""
    sizes = sorted(_MEMORY_RANGE)
    larger = [size for size in sizes if size > cpu]
    if not larger:
        return None
    new_cpu = larger[0]
    low, high = _MEMORY_RANGE[new_cpu]
    return new_cpu, min(max(memory * new_cpu // max(cpu, 1), low), high)
