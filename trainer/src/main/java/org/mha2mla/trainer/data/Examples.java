package org.mha2mla.trainer.data;

/** The examples a training run draws, in data order (what a checkpoint saves of them is {@link #state}). */
public interface Examples {

    TrainingExample next();

    ExampleStream.State state();
}
