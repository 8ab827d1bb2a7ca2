package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.mha2mla.evaluation.scoring.Scoring;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Re-score saved predictions as lmms-eval does, without a model; prints {task, results, aggregate} as JSON.")
final class ScoreCommand implements Callable<Integer> {

    @Option(names = "--task", required = true,
            description = "lmms-eval task: ai2d, gqa, pope, chartqa, docvqa_val, seedbench, realworldqa, mmbench_en_dev.")
    String task;

    @Option(names = "--cases", required = true, description = "JSON list of {\"doc\": {...dataset fields...}, \"prediction\": \"...\"}.")
    Path cases;

    @Option(names = "--no-harness-strip", description = "Score the filtered text without lmms-eval's str.strip() "
            + "(calling the task's utilities directly, as lmms_eval_scoring.json was made).")
    boolean noHarnessStrip;

    @Override
    public Integer call() throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode in;
        try {
            in = json.readTree(cases.toFile());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(cases + ": cannot read the cases JSON (" + e.getMessage() + ")", e);
        }
        System.out.println(json.enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(Scoring.report(task, in, !noHarnessStrip)));
        return 0;
    }
}
