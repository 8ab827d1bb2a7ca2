import java.nio.file.Path;

import org.mha2mla.evaluation.synthetic.SyntheticShapesData;

/**
 * The inputs of the real-size benchmark: the synthetic shapes task at 448×448 (the demo's generator), whose
 * calibration split gives the conversion's calibration samples, whose held-out split gives `eval --limit 2` its
 * documents, and whose first image is the `generate` image. Usage: ScaleData OUT_DIR
 */
public final class ScaleData {
    public static void main(String[] args) {
        Path root = Path.of(args[0]);
        SyntheticShapesData.Splits s = SyntheticShapesData.write(root, new SyntheticShapesData.Sizes(448, 8, 8, 1), 7);
        System.out.println("wrote " + s.calibration() + ", " + s.test() + " and " + s.root().resolve(SyntheticShapesData.IMAGES));
    }
}
