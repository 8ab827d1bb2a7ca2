package org.mha2mla.layers.text;

import java.lang.reflect.Field;
import java.util.HashMap;
import java.util.Map;

import org.nd4j.imports.converters.DifferentialFunctionClassHolder;
import org.nd4j.imports.converters.ImportClassMapping;
import org.nd4j.linalg.api.ops.CustomOpDescriptor;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Registers this project's ops ({@link LinearMatmul}, {@link SigmoidFromOutput}) with SameDiff's op table, and finds the
 * native ops they run ({@link #nativeOp}).
 *
 * <p>Why: SameDiff builds a gradient graph by cloning every op through its FlatBuffers form and back
 * ({@code FlatBuffersMapper.cloneViaSerialize}), which finds the op's class from its name and hash in
 * {@link DifferentialFunctionClassHolder}. These ops run a native op (their {@code opHash} and {@code getDescriptor})
 * under a name of their own, hash 0 in the flat form, so each class is registered under hash 0 and its name in the
 * holder's table of ops that share a hash; the table's other hash-0 names still resolve as before (through
 * {@link ImportClassMapping}). Each op registers itself when its class is loaded, i.e. before any graph holds it.
 */
final class OpTable {

    private OpTable() {
    }

    /** ND4J's native op {@code name}, whose kernel and hash such an op runs under its own name. */
    static CustomOpDescriptor nativeOp(String name) {
        return Nd4j.getExecutioner().getCustomOperations().get(name);
    }

    @SuppressWarnings("unchecked")
    static void register(String opName, Class<?> opClass) {
        try {
            DifferentialFunctionClassHolder holder = DifferentialFunctionClassHolder.getInstance();
            Field f = DifferentialFunctionClassHolder.class.getDeclaredField("customOpHashToClasses");
            f.setAccessible(true);
            Map<Long, Map<String, Class<?>>> byHash = (Map<Long, Map<String, Class<?>>>) f.get(holder);
            synchronized (byHash) {
                Map<String, Class<?>> zero = byHash.get(0L);
                if (zero == null) {
                    zero = new FallbackToImportMapping();
                    byHash.put(0L, zero);
                }
                zero.put(opName, opClass);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot register the " + opName + " op with SameDiff's op table (ND4J "
                    + "version without DifferentialFunctionClassHolder.customOpHashToClasses?): " + e, e);
        }
    }

    /**
     * The hash-0 row of the holder's table: without it, a hash-0 name resolves through {@link ImportClassMapping}, and
     * with it SameDiff looks only in this map; so names other than ours fall back to that mapping here.
     */
    private static final class FallbackToImportMapping extends HashMap<String, Class<?>> {
        @Override
        public Class<?> get(Object name) {
            Class<?> c = super.get(name);
            if (c == null && ImportClassMapping.getOpNameMapping().containsKey(name)) {
                c = ImportClassMapping.getOpNameMapping().get(name).getClass();
            }
            return c;
        }
    }
}
