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

    /** Exit codes: 0 success, 1 an error (one line on stderr), 2 a usage error, 3 a parity failure. */
    public static final int ERROR = 1;
    public static final int USAGE = 2;

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
            return ERROR;
        });
        // A mistyped option or value: one line that says what and where to look, not the whole usage text.
        cli.setParameterExceptionHandler((e, args2) -> {
            CommandLine c = e.getCommandLine();
            c.getErr().println("mha2mla: " + oneLine(e) + " (see `" + c.getCommandSpec().qualifiedName() + " --help`)");
            return USAGE;
        });
        return cli.execute(args);
    }

    /**
     * One line for the user: the most specific message, then the causes that add something ("x: cannot read y
     * (NoSuchFileException: y/a.parquet)"), so a wrapper never hides why it failed.
     */
    public static String oneLine(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && (t.getMessage() == null || t instanceof java.util.concurrent.ExecutionException
                || t instanceof java.util.concurrent.CompletionException || t.getMessage().equals(t.getCause().toString()))) {
            t = t.getCause();
        }
        StringBuilder b = new StringBuilder(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            String m = c.getMessage();
            if (m == null || m.isBlank() || b.indexOf(m.strip()) >= 0) continue;
            b.append(" (").append(c.getClass().getSimpleName()).append(": ").append(m.strip()).append(')');
        }
        return b.toString().replaceAll("\\s*\\R\\s*", " ");
    }
}
