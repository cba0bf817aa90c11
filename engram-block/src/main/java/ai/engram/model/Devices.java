package ai.engram.model;

import ai.djl.Device;
import ai.djl.engine.Engine;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Device names as users write them: {@code cpu}, {@code gpu} (the first GPU), {@code gpuN} and {@code gpu:N}
 * ({@code cuda} for {@code gpu} too). DJL's own {@link Device#fromName} turns {@code gpu} into {@code gpu(-1)},
 * which fails much later with a NullPointerException in the parameter store, and rejects {@code gpu:N}; asking
 * for a GPU that the engine does not see fails here, in one sentence, instead of deep inside the first operation.
 */
public final class Devices {

    private static final Pattern GPU = Pattern.compile("(?:gpu|cuda)(?::?(\\d{1,4}))?");

    private Devices() {}

    /**
     * @param name {@code cpu}, {@code gpu}, {@code gpuN} or {@code gpu:N} (case-insensitive); null or blank gives
     *     the engine's default device
     * @return the device, checked against the GPUs the engine sees
     * @throws IllegalArgumentException for an unknown name or a GPU that is not there
     */
    public static Device parse(String name) {
        if (name == null || name.isBlank()) {
            return Engine.getInstance().defaultDevice();
        }
        String n = name.strip().toLowerCase(Locale.ROOT);
        if (n.equals("cpu")) {
            return Device.cpu();
        }
        Matcher m = GPU.matcher(n);
        if (!m.matches()) {
            throw new IllegalArgumentException("unknown device '" + name + "': use cpu, gpu, gpuN or gpu:N");
        }
        return checked(Device.gpu(m.group(1) == null ? 0 : Integer.parseInt(m.group(1))));
    }

    /**
     * A device from DJL as it is, except {@code gpu(-1)} (what {@code Device.fromName("gpu")} gives) becomes the
     * first GPU; GPUs are checked against the engine.
     *
     * @param device a device or null (the engine's default)
     * @return a device DJL can run on
     * @throws IllegalArgumentException for a GPU that is not there
     */
    public static Device resolve(Device device) {
        if (device == null) {
            return Engine.getInstance().defaultDevice();
        }
        if (!device.isGpu()) {
            return device;
        }
        return checked(device.getDeviceId() < 0 ? Device.gpu(0) : device);
    }

    private static Device checked(Device gpu) {
        int count = Engine.getInstance().getGpuCount();
        if (count == 0) {
            throw new IllegalArgumentException("no GPU: " + Engine.getInstance().getEngineName()
                    + " sees no CUDA device here (asked for " + gpu + ")");
        }
        if (gpu.getDeviceId() >= count) {
            throw new IllegalArgumentException("no " + gpu + ": " + Engine.getInstance().getEngineName() + " sees "
                    + count + " GPU" + (count == 1 ? "" : "s") + " (gpu0" + (count > 1 ? "..gpu" + (count - 1) : "")
                    + ")");
        }
        return gpu;
    }
}
