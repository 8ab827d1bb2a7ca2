package org.mha2mla.evaluation.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.mha2mla.evaluation.synthetic.Scene.Item;
import org.mha2mla.evaluation.synthetic.ShapesGenerator.Question;
import org.mha2mla.evaluation.synthetic.ShapesGenerator.Type;

class ShapesGeneratorTest {

    static List<String> describe(long seed, int n) {
        ShapesGenerator g = new ShapesGenerator(112, seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Scene s = g.scene();
            StringBuilder sb = new StringBuilder(s.items().toString());
            for (Type t : Type.values()) g.question(s, t).ifPresent(q -> sb.append(' ').append(q));
            out.add(sb.toString());
        }
        return out;
    }

    @Test
    void theSameSeedGivesTheSameScenesAndQuestions() {
        assertEquals(describe(42, 50), describe(42, 50));
        assertNotEquals(describe(42, 50), describe(43, 50));
    }

    @Test
    void scenesAreValid() {
        ShapesGenerator g = new ShapesGenerator(112, 1);
        Map<Integer, Integer> counts = new HashMap<>();
        for (int i = 0; i < 4000; i++) {
            Scene s = g.scene();
            counts.merge(s.items().size(), 1, Integer::sum);
            Set<Integer> cells = new HashSet<>();
            Set<String> pairs = new HashSet<>();
            for (Item it : s.items()) {
                assertTrue(cells.add(it.row() * 4 + it.col()), "two items in one cell");
                assertTrue(pairs.add(it.name()), "two " + it.name());
                // The pixels of the shape and its outline (1 px beyond the bounding box) lie in the item's own 28 px cell.
                int first = it.cx() - it.side() / 2 - 1;
                int last = it.cx() - it.side() / 2 + it.side();
                assertTrue(first >= it.col() * 28 && last < (it.col() + 1) * 28, it.toString());
                first = it.cy() - it.side() / 2 - 1;
                last = it.cy() - it.side() / 2 + it.side();
                assertTrue(first >= it.row() * 28 && last < (it.row() + 1) * 28, it.toString());
            }
        }
        // 1–4 items, uniform: each count within 4 standard deviations of 1000.
        for (int n = 1; n <= 4; n++) assertEquals(1000, counts.get(n), 4 * Math.sqrt(4000 * 0.25 * 0.75), "scenes with " + n + " items");
    }

    /** Every answer re-derived from the scene independently of the generator's own logic. */
    @Test
    void answersAgreeWithTheScene() {
        ShapesGenerator g = new ShapesGenerator(112, 2);
        for (int i = 0; i < 2000; i++) {
            Scene s = g.scene();
            for (Type t : Type.values()) {
                Optional<Question> q = g.question(s, t);
                q.ifPresent(x -> assertEquals(expected(s, x), x.answer(), x.text() + " about " + s.items()));
            }
        }
    }

    static String expected(Scene s, Question q) {
        String[] w = q.text().replace("?", "").toLowerCase().split(" ");
        List<Item> items = s.items();
        switch (q.type()) {
            case COLOR: {   // what color is the <shape>
                List<Item> m = items.stream().filter(it -> it.shape().word().equals(w[4])).toList();
                assertEquals(1, m.size(), "the shape must be unique");
                return m.get(0).colour().word();
            }
            case SHAPE: {   // what shape is the <colour> object
                List<Item> m = items.stream().filter(it -> it.colour().word().equals(w[4])).toList();
                assertEquals(1, m.size(), "the colour must be unique");
                return m.get(0).shape().word();
            }
            case COUNT:
                return Integer.toString(items.size());
            case EXIST: {   // is there a <shape> | is there a <colour> object
                boolean byColour = w.length == 5;
                assertEquals(byColour ? 5 : 4, w.length, q.text());
                return items.stream().anyMatch(it -> (byColour ? it.colour().word() : it.shape().word()).equals(w[3])) ? "yes" : "no";
            }
            default: {      // is the <c> object left or right | above or below the <c> object
                Item a = find(items, w[2]);
                Item b = find(items, w[w.length - 2]);
                BufferedImage img = s.render();
                // From the pixels: the x (or y) of the shape centres, read where the item's colour is.
                assertEquals(a.colour().rgb(), img.getRGB(a.cx(), a.cy()) & 0xffffff);
                if (w[4].equals("left")) {
                    assertNotEquals(a.col(), b.col());
                    return a.cx() < b.cx() ? "left" : "right";
                }
                assertNotEquals(a.row(), b.row());
                return a.cy() < b.cy() ? "above" : "below";
            }
        }
    }

    static Item find(List<Item> items, String colour) {
        List<Item> m = items.stream().filter(it -> it.colour().word().equals(colour)).toList();
        assertEquals(1, m.size(), "the colour " + colour + " must name one item of " + items);
        return m.get(0);
    }

    @Test
    void answerDistributionsAreBalanced() {
        ShapesGenerator g = new ShapesGenerator(112, 3);
        Map<String, Integer> answers = new HashMap<>();
        int[] asked = new int[Type.values().length];
        int n = 6000;
        for (int i = 0; i < n; i++) {
            Scene s = g.scene();
            for (Type t : Type.values()) {
                g.question(s, t).ifPresent(q -> {
                    answers.merge(t.key() + ":" + q.answer(), 1, Integer::sum);
                    asked[t.ordinal()]++;
                });
            }
        }
        assertBalanced(answers, "exist", List.of("yes", "no"), asked[Type.EXIST.ordinal()]);
        assertBalanced(answers, "color", List.of("red", "green", "blue", "yellow", "purple"), asked[Type.COLOR.ordinal()]);
        assertBalanced(answers, "shape", List.of("square", "circle", "triangle"), asked[Type.SHAPE.ordinal()]);
        assertBalanced(answers, "count", List.of("1", "2", "3", "4"), asked[Type.COUNT.ordinal()]);
        int horizontal = answers.get("position:left") + answers.get("position:right");
        int vertical = answers.get("position:above") + answers.get("position:below");
        assertBalanced(answers, "position", List.of("left", "right"), horizontal);
        assertBalanced(answers, "position", List.of("above", "below"), vertical);
        assertEquals(0.5, (double) horizontal / (horizontal + vertical), 0.05);
    }

    /** Each answer's share within 5 binomial standard deviations of uniform. */
    static void assertBalanced(Map<String, Integer> answers, String type, List<String> values, int total) {
        double p = 1.0 / values.size();
        double tolerance = 5 * Math.sqrt(total * p * (1 - p));
        for (String v : values) {
            int c = answers.getOrDefault(type + ":" + v, 0);
            assertEquals(total * p, c, tolerance, type + " answer " + v + ": " + c + " of " + total);
        }
    }

    @Test
    void existQuestionsAskAboutShapesAndColoursAndNoScenesRepeatAColour() {
        ShapesGenerator g = new ShapesGenerator(112, 4);
        int byColour = 0;
        for (int i = 0; i < 500; i++) {
            Scene s = g.scene();
            assertEquals(s.items().size(), s.items().stream().map(Item::colour).distinct().count(), "colours of " + s.items());
            for (boolean yes : new boolean[] {true, false}) {
                Question q = g.exist(s, yes);
                assertEquals(yes ? "yes" : "no", q.answer());
                assertEquals(q.answer(), expected(s, q), q.text());
                if (q.text().endsWith("object?")) byColour++;
            }
        }
        assertEquals(500, byColour, 5 * Math.sqrt(1000 * 0.25));
    }

    @Test
    void theVocabularyCoversEveryQuestionAndAnswer() {
        Set<String> vocab = new HashSet<>(ShapesGenerator.vocabulary());
        ShapesGenerator g = new ShapesGenerator(112, 5);
        for (int i = 0; i < 500; i++) {
            Scene s = g.scene();
            for (Type t : Type.values()) {
                g.question(s, t).ifPresent(q -> {
                    for (String w : q.text().toLowerCase().replace("?", " ?").split(" +")) assertTrue(vocab.contains(w), w);
                    assertTrue(vocab.contains(q.answer()), q.answer());
                });
            }
        }
    }
}
