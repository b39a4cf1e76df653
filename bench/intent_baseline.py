#!/usr/bin/python3
"""bench/intent_baseline.py - the classic baseline bench_intent measures the
intent classifier against: scikit-learn's TF-IDF (word 1-2-grams and char
2-5-grams within word boundaries, sublinear TF, each block L2-normalised)
feeding a LinearSVC (default C=1), trained and tested on the same files.

Run with Debian's interpreter (/usr/bin/python3, package python3-sklearn):

    /usr/bin/python3 bench/intent_baseline.py --train A.csv --test B.csv [--reps N]

Files: CSV with a header naming the columns `text` and `category` (any
case); rows with an empty category are skipped, as bench_intent does.

Prints one line:
    baseline accuracy=... train_s=... train_wall_s=... predict_per_s=... batch_predict_per_s=... n_train=... n_test=...
train_s is the median of --reps fits of the whole pipeline; predict_per_s is
the median rate of predicting the test texts one at a time (one call per
text, as a live system would); batch_predict_per_s of one call for all.
Times are CPU time of the process (time.process_time), as bench_intent's
own; train_wall_s is the fit on the wall clock."""
import argparse
import csv
import statistics
import sys
import time

try:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC
except ImportError as e:
    print("intent_baseline: scikit-learn is missing (%s); install python3-sklearn "
          "(scripts/install-deps.sh) and run with /usr/bin/python3" % e, file=sys.stderr)
    sys.exit(2)


def load(path):
    texts, cats = [], []
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        rows = csv.reader(f)
        head = [h.lower() for h in next(rows, [])]
        if "text" not in head or "category" not in head:
            print("intent_baseline: %s: the header names no text and category columns" % path,
                  file=sys.stderr)
            sys.exit(1)
        ct, cc = head.index("text"), head.index("category")
        for row in rows:
            if len(row) <= max(ct, cc) or not row[cc]:
                continue
            texts.append(row[ct])
            cats.append(row[cc])
    if not texts:
        print("intent_baseline: %s: no rows with text and category" % path, file=sys.stderr)
        sys.exit(1)
    return texts, cats


def make():
    feats = FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
    ])
    return Pipeline([("tfidf", feats), ("svm", LinearSVC(C=1.0))])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    xtr, ytr = load(a.train)
    xte, yte = load(a.test)
    reps = max(1, a.reps)

    fits, walls = [], []
    model = None
    for _ in range(reps):
        m = make()
        t0, w0 = time.process_time(), time.perf_counter()
        m.fit(xtr, ytr)
        fits.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
        model = m

    pred = model.predict(xte)
    acc = sum(p == y for p, y in zip(pred, yte)) / len(yte)

    one, batch = [], []
    for _ in range(reps):
        t0 = time.process_time()
        for x in xte:
            model.predict([x])
        one.append(len(xte) / (time.process_time() - t0))
        t0 = time.process_time()
        model.predict(xte)
        batch.append(len(xte) / max(time.process_time() - t0, 1e-9))

    print("baseline accuracy=%.4f train_s=%.3f train_wall_s=%.3f predict_per_s=%.0f "
          "batch_predict_per_s=%.0f n_train=%d n_test=%d"
          % (acc, statistics.median(fits), statistics.median(walls), statistics.median(one),
             statistics.median(batch), len(xtr), len(xte)))


if __name__ == "__main__":
    main()
