package org.mha2mla.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code mha2mla} command line. Each subcommand parses its options and calls one module; no
 * pipeline logic lives here. Failures print one line ({@code mha2mla: <message>}) unless
 * {@code --verbose} asks for the stack trace.
 */
@Command(name = "mha2mla", mixinStandardHelpOptions = true, version = "mha2mla 0.1.0",
        description = "Convert vision-language models from MHA/GQA to Multi-Head Latent Attention (DL4J SameDiff).",
        subcommands = {DemoCommand.class, InitCommand.class, InspectCommand.class, ParityCommand.class, GenerateCommand.class, ConvertCommand.class,
                TrainCommand.class, ScoreCommand.class, EvalCommand.class})
public final class Main implements Runnable {

    @Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (tests call this instead of main). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            boolean verbose = parseResult.hasMatchedOption("--verbose")
                    || parseResult.subcommands().stream().anyMatch(p -> p.hasMatchedOption("--verbose"));
            if (verbose) {
                e.printStackTrace(commandLine.getErr());
            } else {
                commandLine.getErr().println("mha2mla: " + oneLine(e));
            }
            return 1;
        });
        return cli.execute(args);
    }

    /** The most specific message in the cause chain, with the exception type when it has none. */
    static String oneLine(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t.getMessage() == null || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        String message = t.getMessage();
        return message == null ? t.getClass().getSimpleName() : message.replace('\n', ' ');
    }
}
