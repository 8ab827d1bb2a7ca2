package org.mha2mla.evaluation.synthetic;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

import org.mha2mla.evaluation.synthetic.Scene.Colour;
import org.mha2mla.evaluation.synthetic.Scene.Item;
import org.mha2mla.evaluation.synthetic.Scene.Shape;

/**
 * Scenes and single-word questions about them, deterministic from a seed ({@link java.util.Random}, whose sequence
 * the JDK specifies, so a seed gives the same data on every machine).
 *
 * <p>A scene has 1–4 items (uniform) in distinct random cells; each item is {@link #SIDE} px wide (at 112 px: a
 * 28 px cell), jittered inside its cell, with a colour no other item of the scene has (shapes may repeat), so a
 * colour names one object. One size for all shapes: a square, a circle and a triangle then cover clearly different
 * areas of their cell, which a vision tower trained from scratch picks up in a few hundred steps; with random
 * sizes the areas overlap and only the outline tells them apart. Question types:
 * <ul>
 * <li>{@link Type#COLOR}: "What color is the circle?" — only about a shape the scene has exactly once;</li>
 * <li>{@link Type#SHAPE}: "What shape is the red object?";</li>
 * <li>{@link Type#COUNT}: "How many shapes are there?" — 1 … 4;</li>
 * <li>{@link Type#EXIST}: "Is there a circle?" or "Is there a red object?" — yes/no, POPE's question about one
 * object category (here a shape or a colour); the "no" cases ask about a category the scene lacks;</li>
 * <li>{@link Type#POSITION}: "Is the red object left or right of the blue object?" (or "above or below") — two
 * items, asked along an axis on which their cells differ: the answer is only in the positional encoding.</li>
 * </ul>
 * Conjunctions ("is there a red circle?" with adversarial "no"s) and shape-named pairs were tried first: a model
 * small enough to pretrain in minutes on 2 cores stays near chance on them (58% / 55% after 1200 steps).
 */
public final class ShapesGenerator {

    public enum Type {
        COLOR, SHAPE, COUNT, EXIST, POSITION;

        /** The name in JSON and in metric names. */
        public String key() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        public static Type of(String key) {
            for (Type t : values()) if (t.key().equals(key)) return t;
            throw new IllegalArgumentException("unknown question type '" + key + "'; known: color, shape, count, exist, position");
        }
    }

    /** One question and its one-word answer. */
    public record Question(Type type, String text, String answer) {
    }

    public static final int MAX_ITEMS = 4;
    /** Side of every shape's bounding box as a share of the cell: 22 px in a 28 px cell. */
    static final double SIDE = 22.0 / 28;

    private final int size;
    private final Random rng;

    /** Scenes of {@code size}×{@code size} pixels drawn from {@code seed}. */
    public ShapesGenerator(int size, long seed) {
        if (size % Scene.GRID != 0 || size / Scene.GRID < 16) {
            throw new IllegalArgumentException("image size " + size + " must be a multiple of " + Scene.GRID
                    + " with cells of at least 16 px");
        }
        this.size = size;
        this.rng = new Random(seed);
    }

    /** Every word a question or answer uses, lower case, "?" included (the demo tokenizer's vocabulary). */
    public static List<String> vocabulary() {
        Set<String> words = new LinkedHashSet<>();
        for (String s : List.of("what color is the circle ?", "what shape is the red object ?", "how many shapes are there ?",
                "is there a circle ?", "is there a red object ?", "is the red object left or right of the blue object ?",
                "is the red object above or below the blue object ?", "yes no")) {
            Collections.addAll(words, s.split(" "));
        }
        for (Shape s : Shape.values()) words.add(s.word());
        for (Colour c : Colour.values()) words.add(c.word());
        for (int n = 1; n <= MAX_ITEMS; n++) words.add(Integer.toString(n));
        words.addAll(List.of("left", "right", "above", "below"));
        return List.copyOf(words);
    }

    /** A random scene. */
    public Scene scene() {
        int count = 1 + rng.nextInt(MAX_ITEMS);
        int cell = size / Scene.GRID;
        List<Integer> cells = new ArrayList<>();
        for (int i = 0; i < Scene.GRID * Scene.GRID; i++) cells.add(i);
        Collections.shuffle(cells, rng);
        List<Colour> colours = new ArrayList<>(List.of(Colour.values()));
        Collections.shuffle(colours, rng);
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int row = cells.get(i) / Scene.GRID;
            int col = cells.get(i) % Scene.GRID;
            Shape shape = Shape.values()[rng.nextInt(Shape.values().length)];
            Colour colour = colours.get(i);
            int side = (int) Math.round(cell * SIDE);
            // The bounding box stays inside the cell with a 1 px margin.
            int slack = (cell - side) / 2 - 1;
            int cx = col * cell + cell / 2 + rng.nextInt(2 * slack + 1) - slack;
            int cy = row * cell + cell / 2 + rng.nextInt(2 * slack + 1) - slack;
            items.add(new Item(shape, colour, row, col, cx, cy, side));
        }
        return new Scene(size, items);
    }

    /** A question of {@code type} about {@code scene}, if the scene allows one (e.g. POSITION needs two items). */
    public Optional<Question> question(Scene scene, Type type) {
        List<Item> items = scene.items();
        return switch (type) {
            case COLOR -> uniqueBy(items, true).map(it -> new Question(type, "What color is the " + it.shape().word() + "?",
                    it.colour().word()));
            case SHAPE -> uniqueBy(items, false).map(it -> new Question(type, "What shape is the " + it.colour().word() + " object?",
                    it.shape().word()));
            case COUNT -> Optional.of(new Question(type, "How many shapes are there?", Integer.toString(items.size())));
            case EXIST -> Optional.of(exist(items, rng.nextBoolean()));
            case POSITION -> items.size() < 2 ? Optional.empty() : Optional.of(position(items));
        };
    }

    /** An EXIST question with the given answer (for exactly balanced splits). */
    public Question exist(Scene scene, boolean yes) {
        return exist(scene.items(), yes);
    }

    private Question exist(List<Item> items, boolean yes) {
        boolean byShape = rng.nextBoolean();
        List<String> present = new ArrayList<>();
        List<String> absent = new ArrayList<>();
        if (byShape) {
            for (Shape sh : Shape.values()) (items.stream().anyMatch(it -> it.shape() == sh) ? present : absent).add(sh.word());
        } else {
            for (Colour c : Colour.values()) (items.stream().anyMatch(it -> it.colour() == c) ? present : absent).add(c.word() + " object");
        }
        // Three shapes and at most four items: every shape may be present; the colours then still allow a "no".
        if (!yes && absent.isEmpty()) return exist(items, false);
        List<String> from = yes ? present : absent;
        return new Question(Type.EXIST, "Is there a " + from.get(rng.nextInt(from.size())) + "?", yes ? "yes" : "no");
    }

    private Question position(List<Item> items) {
        int i = rng.nextInt(items.size());
        int j = rng.nextInt(items.size() - 1);
        if (j >= i) j++;
        Item a = items.get(i);
        Item b = items.get(j);
        boolean horizontal;
        if (a.row() == b.row()) {
            horizontal = true;
        } else if (a.col() == b.col()) {
            horizontal = false;
        } else {
            horizontal = rng.nextBoolean();
        }
        return horizontal ? position(a.colour().word(), b.colour().word(), true, a.col() < b.col())
                : position(a.colour().word(), b.colour().word(), false, a.row() < b.row());
    }

    /**
     * The position question about the {@code a}-coloured object relative to the {@code b}-coloured one, along columns
     * ({@code horizontal}) or rows; {@code aFirst}: a's column (row) is the smaller. Public so that tools asking every
     * pair of a scene (tools/PositionProbe.java) use the generator's exact wording.
     */
    public static Question position(String a, String b, boolean horizontal, boolean aFirst) {
        if (horizontal) return new Question(Type.POSITION, "Is the " + a + " object left or right of the " + b + " object?", aFirst ? "left" : "right");
        return new Question(Type.POSITION, "Is the " + a + " object above or below the " + b + " object?", aFirst ? "above" : "below");
    }

    /** An item whose shape (byShape) or colour no other item shares, chosen at random; empty when there is none. */
    private Optional<Item> uniqueBy(List<Item> items, boolean byShape) {
        Map<Shape, Integer> shapes = new EnumMap<>(Shape.class);
        Map<Colour, Integer> colours = new EnumMap<>(Colour.class);
        for (Item it : items) {
            shapes.merge(it.shape(), 1, Integer::sum);
            colours.merge(it.colour(), 1, Integer::sum);
        }
        List<Item> unique = new ArrayList<>();
        for (Item it : items) {
            if (byShape ? shapes.get(it.shape()) == 1 : colours.get(it.colour()) == 1) unique.add(it);
        }
        return unique.isEmpty() ? Optional.empty() : Optional.of(unique.get(rng.nextInt(unique.size())));
    }

    public Random random() {
        return rng;
    }
}
