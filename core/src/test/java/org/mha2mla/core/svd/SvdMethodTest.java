package org.mha2mla.core.svd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SvdMethodTest {

    @Test
    void theVocabularyRoundTripsAndTheFormerNamesAreRefusedWithTheNewOne() {
        for (SvdMethod m : SvdMethod.values()) assertEquals(m, SvdMethod.parse(m.id()));
        assertEquals(SvdMethod.SVD_JOINT, SvdMethod.parse("SVD_joint"));
        assertEquals("svd-llm", SvdMethod.SVD_LLM.id());
        IllegalArgumentException joint = assertThrows(IllegalArgumentException.class, () -> SvdMethod.parse("joint"));
        assertTrue(joint.getMessage().contains("'svd-llm'") && joint.getMessage().contains("'svd-joint'"), joint.getMessage());
        IllegalArgumentException weight = assertThrows(IllegalArgumentException.class, () -> SvdMethod.parse("weight"));
        assertTrue(weight.getMessage().contains("now 'svd-joint'"), weight.getMessage());
    }

    @Test
    void foldersWrittenBeforeTheRenameKeepTheirMeaning() {
        assertEquals(SvdMethod.SVD_LLM, SvdMethod.fromConfig("joint"));
        assertEquals(SvdMethod.SVD_JOINT, SvdMethod.fromConfig("weight"));
        assertEquals(SvdMethod.MD, SvdMethod.fromConfig("md"));
    }
}
