package org.mha2mla.spark;

import java.io.Serializable;
import java.nio.file.Path;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.FactorSplit;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/**
 * What an executor needs to hold its share of a conversion's calibration samples: where the model folder and the
 * LLaVA-instruct file are (the same paths on every machine), the seed of the records' shuffle and their token cap, and the conversion options, less the driver's spill folder
 * (an executor spills under its own local directory).
 */
record CalibrationSpec(String model, String calibration, String imageRoot, long seed, int maxLength, Mha2MlaConfig.Step step, RopeStrategy strategy,
                       int ropeDim, int dKv, SvdMethod svd, FactorSplit split, int maxQueryRows, double eps, boolean ablations,
                       long activationBudgetBytes) implements Serializable {

    static CalibrationSpec of(Path model, Path calibration, Path imageRoot, long seed, int maxLength, Mha2MlaConverter.Options o) {
        return new CalibrationSpec(model.toAbsolutePath().toString(), calibration.toAbsolutePath().toString(),
                imageRoot == null ? null : imageRoot.toAbsolutePath().toString(), seed, maxLength, o.step(), o.strategy(), o.ropeDim(), o.dKv(),
                o.svd(), o.split(), o.maxQueryRows(), o.eps(), o.ablations(), o.activationBudgetBytes());
    }

    /** The driver's options, spilling activations to {@code spillDir}. */
    Mha2MlaConverter.Options options(Path spillDir) {
        return Mha2MlaConverter.Options.builder(dKv).step(step).strategy(strategy).ropeDim(ropeDim).svd(svd).split(split).maxQueryRows(maxQueryRows)
                .eps(eps).ablations(ablations).activationBudgetBytes(activationBudgetBytes).spillDir(spillDir).build();
    }

    Path imageRootPath() {
        return imageRoot == null ? null : Path.of(imageRoot);
    }
}
