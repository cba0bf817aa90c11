package ai.engram.examples.cli;

import ai.djl.Device;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * What bench-generate's limits need to know of a GPU, from its name as nvidia-smi gives it: the HBM bandwidth (the
 * decode limit) and the dense fp16 tensor-core peak (the prefill limit), from NVIDIA's data sheets. Zero where the
 * name is not one of these (or there is no GPU): then no limit is printed.
 *
 * @param name the GPU's name, or "" without one
 * @param hbmTerabytesPerSecond HBM bandwidth, TB/s
 * @param fp16Teraflops dense fp16 tensor-core peak (no sparsity), TFLOP/s
 */
record GpuSpec(String name, double hbmTerabytesPerSecond, double fp16Teraflops) {

    /** No GPU, or none nvidia-smi could name. */
    static final GpuSpec NONE = new GpuSpec("", 0, 0);

    /**
     * @param name nvidia-smi's name, e.g. "NVIDIA H100 80GB HBM3"
     * @return its figures, zero where unknown
     */
    static GpuSpec fromName(String name) {
        if (name.contains("H200")) {
            return name.contains("NVL") ? new GpuSpec(name, 4.8, 835.5) : new GpuSpec(name, 4.8, 989.4);
        }
        if (name.contains("H100")) {
            if (name.contains("PCIe")) {
                return new GpuSpec(name, 2.0, 756.5);
            }
            return name.contains("NVL") ? new GpuSpec(name, 3.9, 835.5) : new GpuSpec(name, 3.35, 989.4);
        }
        return new GpuSpec(name, 0, 0);
    }

    /**
     * @param device the benchmark's device
     * @return its GPU's figures, zero for a CPU or where nvidia-smi cannot tell
     */
    static GpuSpec of(Device device) {
        if (!device.isGpu()) {
            return NONE;
        }
        try {
            Process p = new ProcessBuilder("nvidia-smi", "--query-gpu=name", "--format=csv,noheader",
                    "-i", String.valueOf(device.getDeviceId())).redirectErrorStream(true).start();
            String name;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                name = String.valueOf(r.readLine());
            }
            p.waitFor(10, TimeUnit.SECONDS);
            return fromName(name);
        } catch (IOException e) {
            return NONE;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return NONE;
        }
    }
}
