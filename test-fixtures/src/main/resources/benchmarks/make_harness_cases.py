"""Writes lmms_eval_harness_cases.json: scoring cases computed by lmms-eval's own functions.

Usage: python3 make_harness_cases.py LMMS_EVAL_CHECKOUT > lmms_eval_harness_cases.json
(LMMS_EVAL_CHECKOUT = a checkout of EvolvingLMMs-Lab/lmms-eval at tag v0.3.5, the version MHA2MLA-VLM
vendors; only numpy is needed besides the standard library.)

The task utilities (doc_to_text, filters, process_results, aggregations), lmms_eval/api/metrics.py and
MMBench_Evaluator are taken verbatim from the checkout: their definitions are cut out of the source files
with `ast` and executed with stand-ins for the imports they do not use here (loguru, pandas.isna/notna,
the filter base classes). The only code written here is `harness`, which repeats the lines of
lmms_eval/api/task.py (ConfigurableTask.process_results, v0.3.5) that sit between the model and the task
scorer: filter, then `res.strip()`, then process_results or the metric_list metric. Unlike
lmms_eval_scoring.json (task utilities called directly), these results include that strip.
"""
import ast
import json
import math
import os
import re
import string
import sys
import types

import numpy as np

ROOT = sys.argv[1]


def load(relpath, names, env):
    tree = ast.parse(open(os.path.join(ROOT, relpath)).read())
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            node.decorator_list = []  # @register_metric/@register_aggregation only fill lmms-eval's registry
            keep.append(node)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets):
            keep.append(node)
    missing = set(names) - {getattr(n, "name", None) for n in keep} - {
        t.id for n in keep if isinstance(n, ast.Assign) for t in n.targets}
    if missing:
        raise SystemExit(f"{relpath}: not found {missing}")
    exec(compile(ast.Module(body=keep, type_ignores=[]), relpath, "exec"), env)
    return env


class _Logger:
    def info(self, *a, **k):
        pass

    debug = warning = error = info


def _isna(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


pd = types.SimpleNamespace(isna=_isna, notna=lambda x: not _isna(x))


class ExtendedRegexFilter:
    def __init__(self, *args, **kwargs):
        pass


class MapFilter:
    def __init__(self, mapping_dict=None, default_value=None):
        self.mapping_dict = mapping_dict
        self.default_value = default_value


def env():
    return {"re": re, "string": string, "np": np, "math": math, "json": json, "pd": pd, "eval_logger": _Logger(),
            "ExtendedRegexFilter": ExtendedRegexFilter, "MapFilter": MapFilter, "__name__": "lmms"}


metrics = load("lmms_eval/api/metrics.py", {"exact_match_hf_evaluate", "levenshtein_distance", "anls", "mean"}, env())
ai2d = load("lmms_eval/tasks/ai2d/utils.py", {"ai2d_doc_to_text", "ai2d_doc_to_target", "MultiChoiceRegexFilter"}, env())
gqa = load("lmms_eval/tasks/gqa/utils.py", {"gqa_doc_to_text"}, env())
pope = load("lmms_eval/tasks/pope/utils.py", {"pope_doc_to_text", "pope_process_results", "pope_aggregate_accuracy",
                                                "pope_aggregate_precision", "pope_aggregate_recall",
                                                "pope_aggregate_f1_score", "pope_aggregate_yes_ratio"}, env())
chartqa = load("lmms_eval/tasks/chartqa/utils.py", {"chartqa_doc_to_text", "chartqa_process_results", "relaxed_correctness"}, env())
docvqa = load("lmms_eval/tasks/docvqa/utils.py", {"docvqa_doc_to_text"}, env())
seed = load("lmms_eval/tasks/seedbench/utils.py", {"seed_doc_to_text", "seed_process_result", "seed_aggregation_result"}, env())
rwqa = load("lmms_eval/tasks/realworldqa/utils.py", {"REPLACE_PROMPT", "realworldqa_doc_to_text",
                                                      "NumberWordsToDigitsFilter", "MultiChoiceRegexFilter"}, env())
mmb_env = env()
mmb_env.update({"rd": __import__("random"), "time": __import__("time"), "defaultdict": __import__("collections").defaultdict})
mmb = load("lmms_eval/tasks/mmbench/mmbench_evals.py", {"MMBench_Evaluator"}, mmb_env)
mmb_utils_env = env()
evaluator = mmb["MMBench_Evaluator"](sys_prompt="There are several options:")
mmb_utils_env["mmbench_evaluator"] = evaluator
mmb_utils = load("lmms_eval/tasks/mmbench/en_utils.py", {"mmbench_doc_to_text", "mmbench_process_results"}, mmb_utils_env)

# Resolved lmms_eval_specific_kwargs for llava_hf / qwen2_5_vl: no YAML has their names, so Task updates the
# dict with its "default" entry (the other entries stay in the dict, which keeps it truthy).
DEFAULT_KW = {
    "ai2d": {"prompt_format": "mcq", "pre_prompt": "", "post_prompt": "\nAnswer with the option's letter from the given choices directly."},
    "gqa": {"pre_prompt": "", "post_prompt": "\nAnswer the question using a single word or phrase."},
    "pope": {"pre_prompt": "", "post_prompt": "\nAnswer the question using a single word or phrase."},
    "chartqa": {"pre_prompt": "", "post_prompt": "\nAnswer the question with a single word."},
    "docvqa_val": {"pre_prompt": "", "post_prompt": "\nAnswer the question using a single word or phrase."},
    "realworldqa": {"pre_prompt": "", "post_prompt": ""},
    "mmbench_en_dev": {"default": {}, "pre_prompt": "", "post_prompt": "\nAnswer with the option's letter from the given choices directly."},
}


def prompt(task, doc):
    kw = DEFAULT_KW.get(task)
    return {
        "ai2d": lambda: ai2d["ai2d_doc_to_text"](doc, kw),
        "gqa": lambda: gqa["gqa_doc_to_text"](doc, kw),
        "pope": lambda: pope["pope_doc_to_text"](doc, kw),
        "chartqa": lambda: chartqa["chartqa_doc_to_text"](doc, kw),
        "docvqa_val": lambda: docvqa["docvqa_doc_to_text"](doc, kw),
        "seedbench": lambda: seed["seed_doc_to_text"](doc),
        "realworldqa": lambda: rwqa["realworldqa_doc_to_text"](doc, kw),
        "mmbench_en_dev": lambda: mmb_utils["mmbench_doc_to_text"](doc, kw),
    }[task]()


def harness(task, doc, raw):
    """filter_list, then ConfigurableTask.process_results for output_type generate_until."""
    if task == "ai2d":
        filtered = ai2d["MultiChoiceRegexFilter"]().apply([[raw]], [doc])[0]
    elif task == "realworldqa":
        resps = rwqa["NumberWordsToDigitsFilter"]().apply([[raw]], [doc])
        filtered = rwqa["MultiChoiceRegexFilter"]().apply(resps, [doc])[0]
    else:
        filtered = raw  # take_first
    results = [res.strip() for res in [filtered]]
    process = {"pope": pope.get("pope_process_results"), "chartqa": chartqa.get("chartqa_process_results"),
               "seedbench": seed.get("seed_process_result"), "mmbench_en_dev": mmb_utils.get("mmbench_process_results")}.get(task)
    if process is not None:
        return filtered, process(doc, results)
    result = [res.strip() for res in results]
    if task == "docvqa_val":
        score = metrics["anls"](references=list(doc["answers"]), predictions=result)
        return filtered, {"anls": score["anls"]}
    gold = ai2d["ai2d_doc_to_target"](doc, "mcq") if task == "ai2d" else doc["answer"]
    score = metrics["exact_match_hf_evaluate"](references=[gold], predictions=result, ignore_case=True, ignore_punctuation=True)
    return filtered, {"exact_match": float(score["exact_match"])}


def aggregate(task, results):
    def collect(key):
        return [r[key] for r in results if key in r]

    out = {}
    if task == "pope":
        items = collect("pope_accuracy")
        out = {"pope_accuracy": pope["pope_aggregate_accuracy"](items), "pope_precision": pope["pope_aggregate_precision"](items),
               "pope_recall": pope["pope_aggregate_recall"](items), "pope_f1_score": pope["pope_aggregate_f1_score"](items),
               "pope_yes_ratio": pope["pope_aggregate_yes_ratio"](items)}
    elif task == "seedbench":
        for key in ("seed_image", "seed_video", "seed_all"):
            if collect(key):
                out[key] = seed["seed_aggregation_result"](collect(key))
    elif task != "mmbench_en_dev":
        for key in ("exact_match", "anls", "relaxed_overall", "relaxed_human_split", "relaxed_augmented_split"):
            if collect(key):
                out[key] = metrics["mean"](collect(key))
    return out


class SubData:
    """The two things eval_sub_data uses of a DataFrame: len() and .iloc[i]."""

    def __init__(self, rows):
        self.rows = rows
        self.iloc = rows

    def __len__(self):
        return len(self.rows)


def mmbench_hits(results):
    """eval_result's loop with the GPT step replaced by VLMEvalKit's exact_matching answer 'Z' (= wrong)."""
    evaluator.extract_answer_from_item = lambda item: ("Z", "no judge")
    items = sorted([dict(r["gpt_eval_score"]) for r in results], key=lambda it: it["index"])
    for it in items:
        it["prediction"] = str(it["prediction"])
    answer_map = {it["index"]: it["answer"] for it in items}
    hits = {}
    for main in [it for it in items if it["index"] < int(1e6)]:
        sub = [it for it in items if it["index"] % int(1e6) == main["index"]]
        hits[str(main["index"])] = evaluator.eval_sub_data(SubData(sub), answer_map)
    matched = [{"prediction": it["prediction"], "choices": evaluator.build_choices(it),
                "can_infer": evaluator.can_infer(it["prediction"], evaluator.build_choices(it)) or None} for it in items]
    return hits, matched


def ai2d_doc(q, opts, ans):
    return {"question": q, "options": opts, "answer": ans}


CASES = {
    "ai2d": [
        (ai2d_doc("Which stage comes after the larva?", ["egg", "pupa", "adult", "nymph"], "1"),
         ["  B  ", " B. pupa", "\u00a0B.", "b.", "B\u0085", "(b)", "", "B\x00", "B\u200b", "C.", "The answer is B."]),
        (ai2d_doc("Pick the producer.", ["grass", "hawk", "snake", "mouse", "frog"], "4"), ["E", "E. frog", "\tE.\n", "e"]),
    ],
    "gqa": [
        ({"question": "Is the sky blue or white?", "answer": "blue"},
         [" blue", "Blue.", "BLUE\u2003", "blue\u200b", "it's blue", "\u00a0blue\u00a0", "blue\n", "b-l-u-e"]),
        ({"question": "Who is wearing the hat?", "answer": "man"}, ["man", "Man!", "the man", "MAN\u3000"]),
    ],
    "pope": [
        ({"question_id": "1", "question": "  Is there a dog in the image? ", "answer": "yes"}, ["Yes.", "\u3000yes", "YES", "yes, there is", "no"]),
        ({"question_id": "2", "question": "Is there a car in the image?", "answer": "no"}, ["no", "\u00a0No\u00a0", "yes", "No, there is not"]),
        ({"question_id": "3", "question": "Is there a cat in the image?", "answer": "No"}, ["NO", "yes"]),
    ],
    "chartqa": [
        ({"question": "What is the value for 2019?", "answer": "45", "type": "human_test"},
         [" 45 ", "1_200", "4.5e1", "+45", "47.25", "47.26", "inf", "nan", "\u0664\u0665", "\u221245", "45 %", "45.", ".45e2"]),
        ({"question": "How many?", "answer": "0", "type": "augmented_test"}, ["0", "0.0", " 0", "-0"]),
        ({"question": "Share?", "answer": "12.5%", "type": "augmented_test"}, ["12.5 %", "0.125", "12.5%%", "13%", "0.13"]),
        ({"question": "Largest?", "answer": "Brazil", "type": "human_test"}, ["brazil", " Brazil\u00a0", "BRAZİL"]),
    ],
    "docvqa_val": [
        ({"question": "Street?", "answers": ["Straße 5"]}, ["STRASSE 5", "strasse 5", "Straße  5", "  straße 5 \t"]),
        ({"question": "Name?", "answers": ["John  Smith", "J. Smith"]}, ["john smith", "J.Smith", "Smith", "jon smith\u00a0", ""]),
        ({"question": "Empty?", "answers": [""]}, ["", "x"]),
    ],
    "seedbench": [
        ({"question": "How many people?", "choice_a": "One", "choice_b": "Two", "choice_c": "Three", "choice_d": "Four",
          "answer": "B", "data_type": "image", "question_id": "101"},
         ["\u00a0B", "b", "(B)", "B\nC", "\U0001d401", "", " "]),
        ({"question": "What happens next?", "choice_a": "Jump", "choice_b": "Run", "choice_c": "Sit", "choice_d": "Fall",
          "answer": "C", "data_type": "video", "question_id": "202"}, ["C", "c.", "D"]),
    ],
    "realworldqa": [
        ({"question": "Which object is closer?\nA. The car\nB. The tree (left)\nC. U.S. Army truck\nPlease answer directly with only the letter of the correct option and nothing else.",
          "answer": "B"},
         ["The tree (left)", "the tree left", "The tree left, I think", "Three", "three", " three", "(B)", "b.", "U.S. Army truck",
          "US Army truck", "The car or The tree left", "C"]),
        ({"question": "How many lights? e.g. A. count them B.\tcarefully\nPlease answer directly with only a single number and no other words.",
          "answer": "3"}, ["3", "three", "3.", "carefully", "count them", "Ten"]),
    ],
    "mmbench_en_dev": [
        ({"index": 7, "question": "What is in the picture?", "hint": None, "A": "a cat", "B": "a dog", "C": "a bird", "D": None,
          "answer": "A", "category": "object", "L2-category": "perception", "source": "s", "split": "dev"},
         ["A"]),
        ({"index": 1000007, "question": "What is in the picture?", "hint": None, "A": "a dog", "B": "a bird", "C": "a cat", "D": None,
          "answer": "C", "category": "object", "L2-category": "perception", "source": "s", "split": "dev"},
         ["The answer is C."]),
        ({"index": 2000007, "question": "What is in the picture?", "hint": None, "A": "a bird", "B": "a cat", "C": "a dog", "D": None,
          "answer": "B", "category": "object", "L2-category": "perception", "source": "s", "split": "dev"},
         ["(B)"]),
        ({"index": 8, "question": "Which city is shown?", "hint": "The photo was taken in Europe.", "A": "Paris", "B": "Rome",
          "C": "Berlin", "D": "Madrid", "answer": "B", "category": "place", "L2-category": "reasoning", "source": "s", "split": "dev"},
         ["It shows Rome."]),
        ({"index": 1000008, "question": "Which city is shown?", "hint": "The photo was taken in Europe.", "A": "Rome", "B": "Berlin",
          "C": "Madrid", "D": "Paris", "answer": "A", "category": "place", "L2-category": "reasoning", "source": "s", "split": "dev"},
         ["A city in Italy, A"]),
        ({"index": 9, "question": "Color?", "hint": "nan", "A": "red", "B": "green", "C": "", "D": "nan",
          "answer": "A", "category": "attribute", "L2-category": "perception", "source": "s", "split": "dev"},
         ["A: red"]),
        ({"index": 10, "question": "Count?", "hint": "", "A": "1", "B": "2", "C": "3", "D": "4",
          "answer": "D", "category": "count", "L2-category": "perception", "source": "s", "split": "dev"},
         ["I am not sure"]),
        ({"index": 11, "question": "Shape?", "hint": None, "A": "circle", "B": "square", "C": None, "D": None,
          "answer": "B", "category": "attribute", "L2-category": "perception", "source": "s", "split": "dev"},
         ["B"]),
    ],
}


def main():
    out = {"source": "lmms-eval v0.3.5 task utilities and metrics, through the harness steps of ConfigurableTask.process_results "
                     "(filter, str.strip, scorer); written by make_harness_cases.py", "tasks": {}}
    for task, groups in CASES.items():
        cases, prompts, results = [], [], []
        for doc, preds in groups:
            prompts.append({"doc": doc, "prompt": prompt(task, doc)})
            for p in preds:
                filtered, result = harness(task, doc, p)
                cases.append({"doc": doc, "prediction": p, "filtered": filtered, "result": result})
                results.append(result)
        entry = {"cases": cases, "aggregate": aggregate(task, results), "prompts": prompts}
        if task == "mmbench_en_dev":
            hits, matched = mmbench_hits(results)
            entry["hits"] = hits
            entry["can_infer"] = matched
        out["tasks"][task] = entry
    json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


main()
