"""Hardware metrics of the trainer node, sampled in the background as `system/...` series:
CPU, memory, disk and network I/O (psutil), and GPU utilisation, memory and temperature
where NVML (`nvidia-ml-py`) finds a GPU."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


class _Gpus:
    def __init__(self) -> None:
        self.handles: list[Any] = []
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        except Exception:  # no NVML library, no driver or no GPU: no GPU series
            self.handles = []

    def sample(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            with contextlib.suppress(Exception):
                utilization = self.nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
                found[f"system/gpu.{i}.utilization_percent"] = float(utilization.gpu)
                found[f"system/gpu.{i}.memory_used_bytes"] = float(memory.used)
                found[f"system/gpu.{i}.memory_percent"] = 100.0 * memory.used / max(memory.total, 1)
                found[f"system/gpu.{i}.temperature_c"] = float(
                    self.nvml.nvmlDeviceGetTemperature(handle, self.nvml.NVML_TEMPERATURE_GPU)
                )
        return found


def hardware() -> dict[str, Any]:
    """What the node is: for the experiment's metadata."""
    gpus = _Gpus()
    names = []
    for handle in gpus.handles:
        with contextlib.suppress(Exception):
            name = gpus.nvml.nvmlDeviceGetName(handle)
            names.append(name.decode() if isinstance(name, bytes) else str(name))
    return {
        "cpu_count": psutil.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "gpus": names,
    }


class SystemMetrics(threading.Thread):
    """Every `interval` seconds, one point per `system/...` key handed to `emit(step, values)`."""

    def __init__(self, emit: Callable[[int, dict[str, float]], None], interval: float) -> None:
        super().__init__(name="modelbox-system-metrics", daemon=True)
        self.emit = emit
        self.interval = interval
        self.stopped = threading.Event()
        self.process = psutil.Process()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        gpus = _Gpus()
        psutil.cpu_percent()  # the first reading only starts the measurement
        disk, net, then = psutil.disk_io_counters(), psutil.net_io_counters(), time.monotonic()
        sample = 0
        while not self.stopped.wait(self.interval):
            now = time.monotonic()
            elapsed = max(now - then, 1e-6)
            values = {
                "system/cpu_percent": psutil.cpu_percent(),
                "system/memory_percent": psutil.virtual_memory().percent,
                "system/process_rss_bytes": float(self.process.memory_info().rss),
            }
            new_disk, new_net = psutil.disk_io_counters(), psutil.net_io_counters()
            if disk is not None and new_disk is not None:
                values["system/disk_read_bytes_per_s"] = (
                    new_disk.read_bytes - disk.read_bytes
                ) / elapsed
                values["system/disk_write_bytes_per_s"] = (
                    new_disk.write_bytes - disk.write_bytes
                ) / elapsed
            if net is not None and new_net is not None:
                values["system/network_sent_bytes_per_s"] = (
                    new_net.bytes_sent - net.bytes_sent
                ) / elapsed
                values["system/network_received_bytes_per_s"] = (
                    new_net.bytes_recv - net.bytes_recv
                ) / elapsed
            values.update(gpus.sample())
            disk, net, then = new_disk, new_net, now
            self.emit(sample, values)
            sample += 1
