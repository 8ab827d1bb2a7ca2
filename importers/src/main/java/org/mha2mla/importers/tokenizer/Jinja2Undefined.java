package org.mha2mla.importers.tokenizer;

import java.util.Set;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.AstRangeBracket;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.Node;
import jinjava.de.odysseus.el.tree.TreeStore;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Builder.Feature;
import jinjava.de.odysseus.el.tree.impl.Cache;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstRightValue;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ExpressionFactory;

/**
 * Jinja2's {@code Undefined} where it differs from Jinjava's null. transformers renders chat templates in a
 * {@code jinja2.sandbox.ImmutableSandboxedEnvironment} with the default {@code Undefined} (not StrictUndefined):
 * an undefined value prints as "", is false, iterates as empty and compares unequal — all of which Jinjava's null
 * does too — but taking an attribute or item of it ({@code x.y}, {@code x['k']}, {@code x.strip()}), or using it in
 * arithmetic or an ordering ({@code x + 'a'}, {@code x < 1}), raises {@code UndefinedError}. Jinjava's expression
 * language instead evaluates {@code null.y} to null and {@code null + 'a'} to "a", so a template reading a field a
 * message lacks rendered a silently different prompt. Here every such operand is wrapped in a node that raises
 * {@code 'expr' is undefined}, as Jinja2 does.
 *
 * <p>One approximation: Jinja2 distinguishes {@code none} (a value) from undefined and gives {@code none.y} an
 * undefined result; Jinjava has only null, so {@code none.y} raises too. Chat templates receive no None values from
 * this project (messages are built from strings and lists).
 */
final class Jinja2Undefined {

    private Jinja2Undefined() {
    }

    /** A Jinjava whose expressions follow Jinja2's undefined rules (the configured behaviour is otherwise unchanged). */
    static Jinjava jinjava(JinjavaConfig config) {
        ExpressionFactory factory = new ExpressionFactoryImpl(new TreeStore(new StrictBuilder(), new Cache(1000)),
                new TruthyTypeConverter());
        return new Jinjava(config) {
            @Override
            public ExpressionFactory getExpressionFactory() {
                return factory;
            }
        };
    }

    /** Jinjava's syntax (filters, tests, dicts, slices …) with {@link StrictParser}'s checks. */
    static final class StrictBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        /** The features of Jinjava's own factory (JUEL's JEE6 profile): method calls and varargs. */
        StrictBuilder() {
            super(Feature.METHOD_INVOCATIONS, Feature.VARARGS);
        }

        @Override
        protected Parser createParser(String expression) {
            return new StrictParser(this, expression);
        }
    }

    /** Wraps the base of every attribute, item and slice access, and the operands of arithmetic and ordering. */
    static final class StrictParser extends ExtendedParser {
        /** Operators that Jinja2's Undefined refuses ({@code _fail_with_undefined_error}); ==, !=, and, or, ~ accept it. */
        private static final Set<AstBinary.Operator> FAILING = Set.of(AdditionOperator.OP, AstBinary.SUB, AstBinary.MUL,
                AstBinary.DIV, AstBinary.MOD, AstBinary.LT, AstBinary.LE, AstBinary.GT, AstBinary.GE);

        StrictParser(Builder builder, String input) {
            super(builder, input);
        }

        @Override
        protected AstDot createAstDot(AstNode base, String property, boolean lvalue) {
            // Filters and tests are method calls on Jinjava's interpreter node (never null), not attributes.
            boolean builtin = property.startsWith(FILTER_PREFIX) || property.startsWith(EXPTEST_PREFIX);
            return super.createAstDot(builtin ? base : new Defined(base), property, lvalue);
        }

        @Override
        protected AstBracket createAstBracket(AstNode base, AstNode property, boolean lvalue, boolean strict) {
            return super.createAstBracket(new Defined(base), property, lvalue, strict);
        }

        @Override
        protected AstRangeBracket createAstRangeBracket(AstNode base, AstNode start, AstNode end, boolean lvalue, boolean strict) {
            return super.createAstRangeBracket(new Defined(base), start, end, lvalue, strict);
        }

        @Override
        protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
            return FAILING.contains(operator) ? super.createAstBinary(new Defined(left), new Defined(right), operator)
                    : super.createAstBinary(left, right, operator);
        }
    }

    private static final String FILTER_PREFIX = ExtendedParser.FILTER_PREFIX;
    private static final String EXPTEST_PREFIX = ExtendedParser.EXPTEST_PREFIX;

    /** An operand that must not be undefined: evaluates its child and raises Jinja2's UndefinedError on null. */
    static final class Defined extends AstRightValue {
        private final AstNode child;

        Defined(AstNode child) {
            this.child = child;
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Object value = child.eval(bindings, context);
            if (value == null) {
                StringBuilder b = new StringBuilder();
                child.appendStructure(b, bindings);
                String expression = b.toString().replace(ExtendedParser.INTERPRETER + ".", "");
                if (expression.startsWith(FILTER_PREFIX)) {
                    throw new TokenizerException("no filter named '" + expression.substring(FILTER_PREFIX.length()) + "'");
                }
                if (expression.startsWith(EXPTEST_PREFIX)) {
                    throw new TokenizerException("no test named '" + expression.substring(EXPTEST_PREFIX.length()) + "'");
                }
                throw new TokenizerException("'" + expression + "' is undefined (Jinja2 raises UndefinedError here)");
            }
            return value;
        }

        @Override
        public void appendStructure(StringBuilder b, Bindings bindings) {
            child.appendStructure(b, bindings);
        }

        @Override
        public String toString() {
            return child.toString();
        }

        @Override
        public int getCardinality() {
            return 1;
        }

        @Override
        public Node getChild(int i) {
            return i == 0 ? child : null;
        }
    }
}
