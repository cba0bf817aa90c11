package ai.engram.block;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.ByteArrayInputStream;
import java.util.Collections;

/** An archive written from TorchScript source loads through DJL and computes what its source says. */
public class TorchScriptArchiveTest {

    @Test
    public void aWrittenModuleLoadsAndComputesItsSource() throws Exception {
        String source = "  def forward(self: __torch__.Affine,\n    x: Tensor,\n    w: Tensor) -> Tensor:\n"
                + "    return torch.add(torch.matmul(x, w), 1.5)\n";
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("affine", manager.getDevice(), "PyTorch")) {
            model.load(new ByteArrayInputStream(TorchScriptArchive.module("Affine", source)), Collections.emptyMap());
            NDArray x = manager.randomNormal(new Shape(3, 4));
            NDArray w = manager.randomNormal(new Shape(4, 2));
            NDArray y = model.getBlock().forward(new ParameterStore(manager, false), new NDList(x, w), false)
                    .singletonOrThrow();
            Assert.assertEquals(y.getShape(), new Shape(3, 2));
            Assert.assertTrue(y.sub(x.matMul(w).add(1.5f)).abs().max().getFloat() < 1e-6);
        }
    }

    @Test
    public void aClassNameThatIsNoIdentifierIsRefused() {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                () -> TorchScriptArchive.module("Not a name", "  def forward(self) -> int:\n    return 1\n"));
        Assert.assertTrue(e.getMessage().contains("not a TorchScript class name"), e.getMessage());
    }

    @Test
    public void sourceThatDoesNotCompileFailsAtLoadingWithTorchScriptsMessage() {
        byte[] archive = TorchScriptArchive.module("Broken", "  def forward(self: __torch__.Broken,\n"
                + "    x: Tensor) -> Tensor:\n    return torch.no_such_operator(x)\n");
        try (Model model = Model.newInstance("broken", ai.djl.Device.cpu(), "PyTorch")) {
            Exception e = Assert.expectThrows(Exception.class,
                    () -> model.load(new ByteArrayInputStream(archive), Collections.emptyMap()));
            Assert.assertTrue(String.valueOf(e.getMessage()).contains("no_such_operator"), String.valueOf(e));
        }
    }
}
