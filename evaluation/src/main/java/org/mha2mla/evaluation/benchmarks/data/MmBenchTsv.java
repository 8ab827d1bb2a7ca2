package org.mha2mla.evaluation.benchmarks.data;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.PyText;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The official MMBench TSV (MMBench_DEV_EN.tsv: index, question, hint, A, B, C, D, answer, category, image,
 * source, l2-category, comment, split) as docs shaped like lmms-lab/MMBench's rows: values stay strings
 * (the hub's dtype), empty cells become null (pandas' NaN), {@code index} becomes an integer,
 * {@code l2-category} is renamed {@code L2-category}, and the base64 image is decoded. A short image cell
 * (≤ 64 characters) names the index of the row whose image it shares, as VLMEvalKit writes the circular
 * copies. Quoting follows pandas' read_csv defaults: a cell that starts with '"' runs to the closing quote,
 * '""' inside it is a quote.
 */
public final class MmBenchTsv {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private MmBenchTsv() {
    }

    public static List<Doc> read(Path tsv, boolean withImages) throws IOException {
        List<List<String>> rows = parse(Files.readString(tsv, StandardCharsets.UTF_8));
        if (rows.isEmpty()) {
            throw new IOException(tsv + ": empty TSV");
        }
        List<String> header = rows.get(0);
        int imageCol = header.indexOf("image");
        int indexCol = header.indexOf("index");
        if (indexCol < 0) {
            throw new IOException(tsv + ": no 'index' column in header " + header);
        }
        Map<String, String> imageByIndex = new HashMap<>();
        for (List<String> row : rows.subList(1, rows.size())) {
            if (imageCol >= 0 && imageCol < row.size() && row.get(imageCol).length() > 64) {
                imageByIndex.put(PyText.strip(row.get(indexCol)), row.get(imageCol));
            }
        }
        List<Doc> docs = new ArrayList<>();
        for (int r = 1; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            if (row.size() == 1 && row.get(0).isEmpty()) {
                continue;
            }
            if (row.size() != header.size()) {
                throw new IOException(tsv + " line of row " + r + ": " + row.size() + " cells, header has " + header.size());
            }
            ObjectNode fields = JSON.objectNode();
            List<byte[]> images = new ArrayList<>();
            for (int c = 0; c < header.size(); c++) {
                String name = header.get(c).equals("l2-category") ? "L2-category" : header.get(c);
                String cell = row.get(c);
                if (c == indexCol) {
                    fields.put(name, PyText.toInt(cell));
                } else if (c == imageCol) {
                    if (withImages && !cell.isEmpty()) {
                        String b64 = cell.length() <= 64 ? imageByIndex.get(PyText.strip(cell)) : cell;
                        if (b64 == null) {
                            throw new IOException(tsv + " row " + r + ": image refers to index " + cell + ", which has no image");
                        }
                        ObjectNode img = fields.putObject(name);
                        img.putNull("path");
                        img.put("image_index", images.size());
                        images.add(Base64.getMimeDecoder().decode(b64));
                    }
                } else if (cell.isEmpty()) {
                    fields.putNull(name);
                } else {
                    fields.put(name, cell);
                }
            }
            docs.add(new Doc(fields, images));
        }
        return docs;
    }

    /** Tab-separated cells with pandas' default quoting; rows end at \n or \r\n outside quotes. */
    static List<List<String>> parse(String text) {
        List<List<String>> rows = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder cell = new StringBuilder();
        int i = 0;
        int n = text.length();
        boolean cellStart = true;
        while (i < n) {
            char ch = text.charAt(i);
            if (cellStart && ch == '"') {
                i++;
                while (i < n) {
                    char q = text.charAt(i);
                    if (q == '"' && i + 1 < n && text.charAt(i + 1) == '"') {
                        cell.append('"');
                        i += 2;
                    } else if (q == '"') {
                        i++;
                        break;
                    } else {
                        cell.append(q);
                        i++;
                    }
                }
                cellStart = false;
                continue;
            }
            cellStart = false;
            if (ch == '\t') {
                row.add(cell.toString());
                cell.setLength(0);
                cellStart = true;
            } else if (ch == '\n' || ch == '\r') {
                if (ch == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
                    i++;
                }
                row.add(cell.toString());
                cell.setLength(0);
                rows.add(row);
                row = new ArrayList<>();
                cellStart = true;
            } else {
                cell.append(ch);
            }
            i++;
        }
        if (!cellStart || !row.isEmpty() || cell.length() > 0) {
            row.add(cell.toString());
            rows.add(row);
        }
        return rows;
    }
}
