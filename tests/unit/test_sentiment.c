/* test_sentiment.c - the sentiment engine (src/core/sentiment.c): each rule
 * against the lexicon of the npm package vader-sentiment (installed in
 * lexicon/ by scripts/install-deps.sh, found under $CAREDESK_SRC), a small
 * lexicon written by the test for exact figures, loading errors, learning,
 * and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/sentiment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sentiment_model *vader; /* the real lexicons, no learned layer */
static char tmpdir[256];

static double sc(const char *text)
{
    sentiment_result r;
    sentiment_score(vader, text, strlen(text), &r);
    assert_true(r.score >= -1.0 && r.score <= 1.0);
    assert_int_equal(r.label, sentiment_label(r.score));
    return r.score;
}

static int label(const char *text)
{
    sentiment_result r;
    sentiment_score(vader, text, strlen(text), &r);
    return r.label;
}

static int setup(void **state)
{
    const char *src = getenv("CAREDESK_SRC");
    char dir[4096], msg[512];
    snprintf(dir, sizeof dir, "%s/lexicon", src && *src ? src : ".");
    int rc = sentiment_load_dir(dir, 0, &vader, msg, sizeof msg);
    if (rc != CD_OK) {
        fprintf(stderr, "test_sentiment: %s\n", msg);
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sentiment.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    sentiment_free(vader);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_tmp(const char *name, const char *content)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* A lexicon with known numbers: good 2, bad -2. */
static sentiment_model *small_model(void)
{
    char lex[512];
    snprintf(lex, sizeof lex, "%s",
             write_tmp("lex.txt", "good\t2.0\t0.5\t[2, 2]\nbad\t-2.0\t0.5\t[-2, -2]\n"
                                  ":)\t2.0\t1.1\t[2]\nno\t-1.2\t0.7\t[-1]\n"));
    sentiment_paths p = {.lexicon = lex};
    sentiment_model *m;
    char msg[256];
    assert_int_equal(sentiment_load(&p, &m, msg, sizeof msg), CD_OK);
    return m;
}

static double sm(const sentiment_model *m, const char *text)
{
    sentiment_result r;
    sentiment_score(m, text, strlen(text), &r);
    return r.score;
}

static double norm(double s)
{
    return s / sqrt(s * s + 15.0);
}

static void test_exact_formula(void **state)
{
    sentiment_model *m = small_model();
    assert_float_equal(sm(m, "good"), norm(2.0), 1e-9);
    assert_float_equal(sm(m, "it is bad"), norm(-2.0), 1e-9);
    assert_float_equal(sm(m, "not good"), norm(2.0 * -0.74), 1e-9);
    assert_float_equal(sm(m, "very good"), norm(2.0 + 0.293), 1e-9);
    assert_float_equal(sm(m, "very bad"), norm(-2.0 - 0.293), 1e-9);
    assert_float_equal(sm(m, "good!!"), norm(2.0 + 2 * 0.292), 1e-9);
    /* Contrast: half before "but", 1.5 times after. */
    assert_float_equal(sm(m, "good but bad"), norm(0.5 * 2.0 + 1.5 * -2.0), 1e-9);
    /* Capitals among lower case words add 0.733. */
    assert_float_equal(sm(m, "it is GOOD"), norm(2.0 + 0.733), 1e-9);
    /* "no" before a lexicon word: the word negated, "no" itself nothing. */
    assert_float_equal(sm(m, "no good"), norm(2.0 * -0.74), 1e-9);
    /* A negation does not cross a clause. */
    assert_float_equal(sm(m, "not here, good"), norm(2.0), 1e-9);
    sentiment_free(m);
}

static void test_negation(void **state)
{
    assert_true(sc("The food was good") > 0.05);
    assert_true(sc("The food was not good") < -0.05);
    assert_true(sc("The food wasn't good") < -0.05);
    assert_true(sc("The food wasn\xe2\x80\x99t good") < -0.05); /* U+2019 */
    assert_true(sc("The food was never good") < -0.05);
    assert_true(sc("It is not bad") > 0.05);
    assert_true(sc("no help at all") < sc("help at all"));
}

static void test_intensifiers(void **state)
{
    assert_true(sc("The service was very good") > sc("The service was good"));
    assert_true(sc("The service was extremely bad") < sc("The service was bad"));
    assert_true(sc("The service was slightly good") < sc("The service was good"));
    assert_true(sc("The service was kind of good") < sc("The service was good"));
    assert_true(sc("The service was kind of good") > 0);
}

static void test_but(void **state)
{
    /* What follows "but" weighs more. */
    assert_true(sc("The food was great but the service was horrible") < -0.05);
    assert_true(sc("The service was horrible but the food was great") > 0.05);
    assert_true(sc("The food was great but") > 0);
}

static void test_caps_and_punctuation(void **state)
{
    assert_true(sc("The agent was GREAT today") > sc("The agent was great today"));
    assert_true(sc("The agent was HORRIBLE today") < sc("The agent was horrible today"));
    /* All capitals: nothing stands out, no extra weight. */
    assert_float_equal(sc("THE AGENT WAS GREAT"), sc("the agent was great"), 1e-12);
    assert_true(sc("The agent was great!!!") > sc("The agent was great"));
    assert_true(sc("The agent was awful!!!") < sc("The agent was awful"));
    /* Up to four '!' count. */
    assert_float_equal(sc("great!!!!!!!!"), sc("great!!!!"), 1e-12);
    assert_true(sc("great!!!!") > sc("great!!!"));
}

static void test_emoticons_and_emoji(void **state)
{
    assert_int_equal(label("my order arrived :)"), 1);
    assert_int_equal(label("my order arrived :("), -1);
    assert_int_equal(label("my order arrived :-)"), 1);
    assert_int_equal(label("my order arrived <3"), 1);
    assert_int_equal(label("my order arrived"), 0);
    assert_int_equal(label("my order arrived \xf0\x9f\x98\x80"), 1);  /* U+1F600 */
    assert_int_equal(label("my order arrived \xf0\x9f\x98\xa1"), -1); /* U+1F621 */
    assert_int_equal(label("my order arrived\xf0\x9f\x91\x8e"), -1);  /* U+1F44E, glued */
    /* With a variation selector, and a skin tone. */
    assert_int_equal(label("thanks \xe2\x9d\xa4\xef\xb8\x8f"), 1);     /* U+2764 FE0F */
    assert_int_equal(label("ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"), 1); /* U+1F44D 1F3FD */
    assert_true(sc("\xf0\x9f\x98\x80\xf0\x9f\x98\x80") > sc("\xf0\x9f\x98\x80"));
}

static void test_neutral_and_empty(void **state)
{
    sentiment_result r = {.score = 5, .label = 5};
    sentiment_score(vader, "", 0, &r);
    assert_float_equal(r.score, 0.0, 0);
    assert_int_equal(r.label, 0);
    r.label = 5;
    sentiment_score(vader, NULL, 0, &r);
    assert_int_equal(r.label, 0);
    assert_int_equal(label("   \t\n  "), 0);
    assert_int_equal(label("!!!???...,,,"), 0);
    assert_int_equal(label("I need to change the address on my account"), 0);
    assert_int_equal(sentiment_label(0.05), 1);
    assert_int_equal(sentiment_label(0.0499), 0);
    assert_int_equal(sentiment_label(-0.05), -1);
}

static void test_invalid_utf8_and_nul(void **state)
{
    const char bad[] = "great \xff\xfe\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 service";
    sentiment_result r;
    sentiment_score(vader, bad, sizeof bad - 1, &r);
    assert_int_equal(r.label, 1);
    /* A NUL separates words and does not end the text. */
    const char nul[] = "fine\0terrible terrible";
    sentiment_score(vader, nul, sizeof nul - 1, &r);
    assert_int_equal(r.label, -1);
    /* A truncated sequence at the very end. */
    const char tail[] = "bad \xf0\x9f\x98";
    sentiment_score(vader, tail, sizeof tail - 1, &r);
    assert_int_equal(r.label, -1);
}

static void test_long_and_random_input(void **state)
{
    size_t n = 8u << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "great awful !!! :) NOT "[i % 23];
    sentiment_result r;
    sentiment_score(vader, big, n, &r);
    assert_true(r.score >= -1.0 && r.score <= 1.0);
    /* One huge word, and a run of one emoticon. */
    memset(big, 'a', n);
    sentiment_score(vader, big, n, &r);
    assert_int_equal(r.label, 0);
    for (size_t i = 0; i + 2 < n; i += 3)
        memcpy(big + i, ":) ", 3);
    sentiment_score(vader, big, n, &r);
    assert_true(r.score > 0.99 && r.score <= 1.0);
    /* Random bytes: always in range. */
    uint64_t x = 12345;
    for (int k = 0; k < 2000; k++) {
        size_t len = (size_t)(k * 7 % 300);
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            big[i] = (char)(x >> 56);
        }
        sentiment_score(vader, big, len, &r);
        assert_true(r.score >= -1.0 && r.score <= 1.0);
        assert_int_equal(r.label, sentiment_label(r.score));
    }
    free(big);
}

static void test_load_errors(void **state)
{
    sentiment_model *m = (sentiment_model *)1;
    char msg[256];
    sentiment_paths p = {.lexicon = "/nonexistent/vader_lexicon.txt"};
    assert_int_equal(sentiment_load(&p, &m, msg, sizeof msg), CD_ENOTFOUND);
    assert_null(m);
    assert_non_null(strstr(msg, "/nonexistent/vader_lexicon.txt"));
    assert_int_equal(sentiment_load_dir("/nonexistent", 1, &m, msg, sizeof msg), CD_ENOTFOUND);
    assert_non_null(strstr(msg, "install-deps"));
    p.lexicon = write_tmp("bad.txt", "good\t2.0\nbad\tnot-a-number\n");
    assert_int_equal(sentiment_load(&p, &m, msg, sizeof msg), CD_EINVAL);
    assert_non_null(strstr(msg, ":2:"));
    p.lexicon = write_tmp("empty.txt", "");
    assert_int_equal(sentiment_load(&p, &m, msg, sizeof msg), CD_EINVAL);
    /* Allocation failures at every step fail cleanly. */
    char lex[512];
    snprintf(lex, sizeof lex, "%s", write_tmp("ok.txt", "good\t2.0\t0\t[]\n"));
    p.lexicon = lex;
    for (unsigned long k = 1; k < 40; k++) {
        cd_mem_fail_after(k);
        int rc = sentiment_load(&p, &m, msg, sizeof msg);
        cd_mem_fail_after(0);
        if (rc == CD_OK) {
            sentiment_free(m);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_null(m);
    }
}

static void test_emoji_files(void **state)
{
    char lex[512];
    snprintf(lex, sizeof lex, "%s", write_tmp("lex2.txt", "happy\t2.7\t0\t[]\n"));
    /* A number, and a description scored with the word lexicon. */
    const char *emo = write_tmp("emoji.tsv", "\xf0\x9f\x98\x80\t-3\n"
                                             "\xf0\x9f\x98\xba\thappy cat face\n");
    sentiment_paths p = {.lexicon = lex, .emoji = emo};
    sentiment_model *m;
    char msg[256];
    assert_int_equal(sentiment_load(&p, &m, msg, sizeof msg), CD_OK);
    assert_float_equal(sm(m, "\xf0\x9f\x98\x80"), norm(-3.0), 1e-6);
    assert_float_equal(sm(m, "\xf0\x9f\x98\xba"), norm(2.7), 1e-6);
    sentiment_info in;
    sentiment_model_info(m, &in);
    assert_int_equal(in.emoji_entries, 2);
    sentiment_free(m);
}

static void test_learning(void **state)
{
    /* "zorp" is not in the lexicon; the examples teach it is negative, and
     * that "tasty" is positive unless negated. */
    static const char *pos[] = {"tasty", "tasty food", "so tasty", "tasty again", "good"};
    static const char *neg[] = {"zorp", "zorp food", "it was zorp", "not tasty", "never tasty"};
    sentiment_example ex[40];
    size_t n = 0;
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 5; i++) {
            ex[n++] = (sentiment_example){pos[i], strlen(pos[i]), 1};
            ex[n++] = (sentiment_example){neg[i], strlen(neg[i]), 0};
        }
    }
    assert_int_equal(label("zorp"), 0);
    sentiment_train_opts o = {.note = "unit test examples"};
    sentiment_model *m;
    assert_int_equal(sentiment_train(vader, ex, n, &o, &m), CD_OK);
    assert_true(sm(m, "zorp") < -0.05);
    assert_true(sm(m, "tasty") > 0.05);
    assert_true(sm(m, "not tasty") < -0.05);
    assert_true(sm(m, "good") > 0.05);
    sentiment_info in;
    sentiment_model_info(m, &in);
    assert_true(in.learned);
    assert_true(in.learned_tokens >= 2);

    /* Saved and loaded back: the same scores. */
    char w[512], lex[4096], msg[256];
    snprintf(w, sizeof w, "%s/weights.tsv", tmpdir);
    assert_int_equal(sentiment_save_weights(m, w), CD_OK);
    const char *src = getenv("CAREDESK_SRC");
    snprintf(lex, sizeof lex, "%s/lexicon/node_modules/vader-sentiment/vader_lexicon.txt",
             src && *src ? src : ".");
    sentiment_paths p = {.lexicon = lex, .weights = w};
    sentiment_model *m2;
    assert_int_equal(sentiment_load(&p, &m2, msg, sizeof msg), CD_OK);
    sentiment_info in2;
    sentiment_model_info(m2, &in2);
    assert_string_equal(in2.learned_from, "unit test examples");
    assert_float_equal(sm(m2, "zorp food"), sm(m, "zorp food"), 1e-5);
    assert_float_equal(sm(m2, "not tasty!"), sm(m, "not tasty!"), 1e-5);
    sentiment_free(m2);
    sentiment_free(m);

    assert_int_equal(sentiment_train(vader, ex, 0, NULL, &m), CD_EINVAL);
    assert_int_equal(sentiment_save_weights(vader, w), CD_EINVAL);
    p.weights = write_tmp("w_bad.tsv", "a\t1\n");
    assert_int_equal(sentiment_load(&p, &m2, msg, sizeof msg), CD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_formula),         cmocka_unit_test(test_negation),
        cmocka_unit_test(test_intensifiers),          cmocka_unit_test(test_but),
        cmocka_unit_test(test_caps_and_punctuation),  cmocka_unit_test(test_emoticons_and_emoji),
        cmocka_unit_test(test_neutral_and_empty),     cmocka_unit_test(test_invalid_utf8_and_nul),
        cmocka_unit_test(test_long_and_random_input), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_emoji_files),           cmocka_unit_test(test_learning),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
