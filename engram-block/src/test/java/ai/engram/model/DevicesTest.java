package ai.engram.model;

import ai.djl.Device;
import ai.djl.engine.Engine;

import org.testng.Assert;
import org.testng.annotations.Test;

/** Device names as users write them, checked against the GPUs the engine sees (CPU and GPU machines alike). */
public class DevicesTest {

    @Test
    public void namesUsersWriteAreUnderstood() {
        Assert.assertEquals(Devices.parse("cpu"), Device.cpu());
        Assert.assertEquals(Devices.parse(" CPU "), Device.cpu());
        Assert.assertEquals(Devices.parse(null), Engine.getInstance().defaultDevice());
        int gpus = Engine.getInstance().getGpuCount();
        for (String name : new String[] {"gpu", "gpu0", "gpu:0", "GPU:0", "cuda", "cuda:0"}) {
            if (gpus > 0) {
                Assert.assertEquals(Devices.parse(name), Device.gpu(0), name);
            } else {
                IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                        () -> Devices.parse(name));
                Assert.assertTrue(e.getMessage().startsWith("no GPU: "), e.getMessage());
            }
        }
        String beyond = "gpu:" + gpus;
        IllegalArgumentException missing = Assert.expectThrows(IllegalArgumentException.class,
                () -> Devices.parse(beyond));
        Assert.assertTrue(missing.getMessage().startsWith("no GPU") || missing.getMessage().contains(" sees " + gpus),
                missing.getMessage());
    }

    @Test
    public void djlsGpuMinusOneBecomesTheFirstGpu() {
        Device fromDjl = Device.fromName("gpu");
        Assert.assertEquals(fromDjl.getDeviceId(), -1, "what DJL's own parser gives");
        if (Engine.getInstance().getGpuCount() > 0) {
            Assert.assertEquals(Devices.resolve(fromDjl), Device.gpu(0));
        } else {
            Assert.expectThrows(IllegalArgumentException.class, () -> Devices.resolve(fromDjl));
        }
        Assert.assertEquals(Devices.resolve(Device.cpu()), Device.cpu());
    }

    @Test
    public void unknownNamesFailInOneSentence() {
        for (String name : new String[] {"tpu", "gpu-1", "gpu:x", "gpu::0", "0", "cpu0"}) {
            IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class, () -> Devices.parse(name));
            Assert.assertEquals(e.getMessage(), "unknown device '" + name + "': use cpu, gpu, gpuN or gpu:N");
        }
    }
}
