/* test_intent.c - the intent classifier (src/core/intent.c): learning a
 * small synthetic set, incremental learning, confidence, determinism,
 * hostile input, models with 0 or 1 category, save/load, clone, and
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cd_err.h"
#include "core/cd_mem.h"
#include "core/intent.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ex {
    const char *text;
    const char *cat;
} ex;

static const ex TRAIN[] = {
    {"I was charged twice for my subscription", "billing"},
    {"Why is there an extra charge on my invoice?", "billing"},
    {"My bill is higher than last month", "billing"},
    {"Please explain this fee on my statement", "billing"},
    {"I need a copy of my invoice", "billing"},
    {"The payment was taken two times", "billing"},
    {"Refund the double charge please", "billing"},
    {"Wrong amount billed to my card", "billing"},
    {"Where is my parcel? It has not arrived", "shipping"},
    {"My package is late, when will it be delivered?", "shipping"},
    {"Tracking number shows no delivery update", "shipping"},
    {"The courier never delivered my order", "shipping"},
    {"How long does shipping take to Canada?", "shipping"},
    {"My order still has not shipped", "shipping"},
    {"Delivery was supposed to be yesterday", "shipping"},
    {"Can I change the delivery address of my parcel?", "shipping"},
    {"I forgot my password and cannot log in", "login"},
    {"Reset my password please", "login"},
    {"The login page says my password is wrong", "login"},
    {"I am locked out of my account", "login"},
    {"Two-factor code never arrives so I can't sign in", "login"},
    {"How do I change my password?", "login"},
    {"Cannot sign in to the app", "login"},
    {"My account is locked after too many attempts", "login"},
};
#define NTRAIN (sizeof TRAIN / sizeof TRAIN[0])

static const ex TEST[] = {
    {"there is a charge twice on my card", "billing"},
    {"what is this fee on my invoice", "billing"},
    {"my parcel has not been delivered yet", "shipping"},
    {"when will my order be shipped", "shipping"},
    {"I can't log in, password reset please", "login"},
    {"my account is locked", "login"},
};
#define NTEST (sizeof TEST / sizeof TEST[0])

static intent_model *learn_all(int train)
{
    intent_model *m = intent_new();
    assert_non_null(m);
    for (size_t i = 0; i < NTRAIN; i++)
        assert_int_equal(intent_learn(m, TRAIN[i].text, strlen(TRAIN[i].text), TRAIN[i].cat),
                         CD_OK);
    if (train)
        assert_int_equal(intent_train(m), CD_OK);
    return m;
}

static intent_prediction pred(const intent_model *m, const char *text)
{
    intent_prediction p;
    assert_int_equal(intent_predict(m, text, strlen(text), &p), CD_OK);
    assert_non_null(p.category);
    assert_true(p.confidence >= 0.0 && p.confidence <= 1.0);
    assert_true(p.ntop >= 1 && p.ntop <= INTENT_TOP);
    assert_ptr_equal(p.top[0].category, p.category);
    double sum = 0;
    for (int i = 0; i < p.ntop; i++) {
        assert_true(p.top[i].confidence >= 0.0 && p.top[i].confidence <= 1.0);
        if (i)
            assert_true(p.top[i].confidence <= p.top[i - 1].confidence);
        sum += p.top[i].confidence;
    }
    assert_true(sum <= 1.0 + 1e-9);
    return p;
}

static void test_learns_and_predicts(void **state)
{
    intent_model *m = learn_all(1);
    assert_int_equal(intent_examples(m), NTRAIN);
    assert_int_equal(intent_categories(m), 3);
    assert_int_equal(intent_pending(m), 0);
    assert_string_equal(intent_category(m, 0), "billing");
    assert_null(intent_category(m, 3));
    assert_true(intent_features(m) > 100);
    for (size_t i = 0; i < NTEST; i++)
        assert_string_equal(pred(m, TEST[i].text).category, TEST[i].cat);
    /* Online steps alone (no refit): a text just learned is predicted as
     * its category, and most of the test set is right. */
    intent_model *o = intent_new();
    for (size_t j = 0; j < NTRAIN; j++) {
        const ex *e = &TRAIN[j * 7 % NTRAIN]; /* categories interleaved, as work comes */
        assert_int_equal(intent_learn(o, e->text, strlen(e->text), e->cat), CD_OK);
        if (intent_categories(o) > 1)
            assert_string_equal(pred(o, e->text).category, e->cat);
    }
    assert_int_equal(intent_pending(o), NTRAIN);
    size_t ok = 0;
    for (size_t i = 0; i < NTEST; i++)
        ok += strcmp(pred(o, TEST[i].text).category, TEST[i].cat) == 0;
    assert_true(ok >= NTEST - 1);
    intent_free(o);
    intent_free(m);
}

static void test_incremental(void **state)
{
    intent_model *m = learn_all(1);
    const char *q = "I want to cancel my subscription";
    intent_prediction before = pred(m, q);
    assert_string_not_equal(before.category, "cancel");

    /* A new category, learned one example at a time, shows at once. */
    const char *cancel[] = {"Cancel my subscription", "Please cancel my plan",
                            "I want to cancel the subscription today"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(intent_learn(m, cancel[i], strlen(cancel[i]), "cancel"), CD_OK);
    assert_int_equal(intent_categories(m), 4);
    assert_int_equal(intent_pending(m), 3);
    assert_string_equal(pred(m, q).category, "cancel");
    /* Old knowledge survives. */
    for (size_t i = 0; i < NTEST; i++)
        assert_string_equal(pred(m, TEST[i].text).category, TEST[i].cat);

    /* A refit from the kept examples agrees. */
    int trained = 1;
    assert_int_equal(intent_maybe_train(m, 10, 0.0, &trained), CD_OK);
    assert_int_equal(trained, 0); /* 3 pending < 10 */
    assert_int_equal(intent_maybe_train(m, 1, 0.1, &trained), CD_OK);
    assert_int_equal(trained, 1);
    assert_int_equal(intent_pending(m), 0);
    assert_string_equal(pred(m, q).category, "cancel");
    for (size_t i = 0; i < NTEST; i++)
        assert_string_equal(pred(m, TEST[i].text).category, TEST[i].cat);

    /* One more example moves the prediction of a text like it. */
    const char *odd = "zorblax frobnicator";
    intent_prediction p0 = pred(m, odd);
    assert_int_equal(intent_learn(m, odd, strlen(odd), "shipping"), CD_OK);
    intent_prediction p1 = pred(m, odd);
    assert_string_equal(p1.category, "shipping");
    if (strcmp(p0.category, "shipping") == 0)
        assert_true(p1.confidence > p0.confidence);
    intent_free(m);
}

static void test_confidence(void **state)
{
    intent_model *m = learn_all(1);
    double t = intent_temperature(m);
    assert_true(t > 0 && t < 1000);
    intent_prediction clear = pred(m, "I forgot my password and cannot log in");
    intent_prediction vague = pred(m, "hello");
    intent_prediction empty = pred(m, "");
    assert_string_equal(clear.category, "login");
    assert_true(clear.confidence > vague.confidence);
    assert_true(clear.confidence > empty.confidence);
    assert_true(empty.confidence < 0.7);
    assert_int_equal(empty.ntop, 3);
    intent_free(m);
}

static void test_determinism(void **state)
{
    intent_model *a = learn_all(1), *b = learn_all(1);
    unsigned char *ba, *bb;
    size_t la, lb;
    assert_int_equal(intent_save(a, &ba, &la), CD_OK);
    assert_int_equal(intent_save(b, &bb, &lb), CD_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    /* Training twice gives the same model too. */
    assert_int_equal(intent_train(b), CD_OK);
    cd_free(bb);
    assert_int_equal(intent_save(b, &bb, &lb), CD_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    cd_free(ba);
    cd_free(bb);
    intent_free(a);
    intent_free(b);
}

static void test_tokens(void **state)
{
    intent_model *m = learn_all(1);
    const char *pairs[][2] = {
        {"I can't sign in", "I CAN\xe2\x80\x99T SIGN IN"},
        {"reset my password", "Reset,my...password!!!"},
        {"parcel late", "parcel\xc2\xa0late"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        intent_prediction x = pred(m, pairs[i][0]), y = pred(m, pairs[i][1]);
        assert_string_equal(x.category, y.category);
        assert_true(x.confidence - y.confidence < 1e-6 && y.confidence - x.confidence < 1e-6);
    }
    intent_free(m);
}

static void test_hostile_input(void **state)
{
    intent_model *m = learn_all(1);
    intent_prediction p;
    /* Random bytes, NULs, invalid UTF-8, all lengths. */
    unsigned char buf[512];
    uint32_t x = 12345;
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)(round * 7 % 512);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
        }
        assert_int_equal(intent_predict(m, (const char *)buf, len, &p), CD_OK);
        assert_true(p.confidence >= 0 && p.confidence <= 1);
        if (round % 10 == 0)
            assert_int_equal(intent_learn(m, (const char *)buf, len, "noise"), CD_OK);
    }
    const char *bad[] = {"\xff\xfe\xfd", "\xe2\x80", "\xe2", "'''",   "\xe2\x80\x99\xe2\x80\x99",
                         "a'",           "'a",       "\xc2", "\0\0\0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]) ? strlen(bad[i]) : 3;
        assert_int_equal(intent_predict(m, bad[i], len, &p), CD_OK);
        assert_int_equal(intent_learn(m, bad[i], len, "noise"), CD_OK);
    }
    /* 1 MB texts: one long word, and repeated words. */
    size_t big = 1 << 20;
    char *t = malloc(big);
    assert_non_null(t);
    memset(t, 'a', big);
    assert_int_equal(intent_predict(m, t, big, &p), CD_OK);
    assert_int_equal(intent_learn(m, t, big, "long"), CD_OK);
    for (size_t i = 0; i < big; i++)
        t[i] = "password reset please "[i % 22];
    assert_int_equal(intent_predict(m, t, big, &p), CD_OK);
    assert_string_equal(p.category, "login");
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        t[i] = (char)('a' + (x >> 16) % 26);
        if ((x >> 8) % 7 == 0)
            t[i] = ' ';
    }
    assert_int_equal(intent_predict(m, t, big, &p), CD_OK);
    assert_int_equal(intent_learn(m, t, big, "long"), CD_OK);
    free(t);
    assert_int_equal(intent_train(m), CD_OK);
    assert_string_equal(pred(m, "reset my password").category, "login");

    /* Arguments. */
    assert_int_equal(intent_predict(m, NULL, 0, &p), CD_OK);
    assert_int_equal(intent_predict(m, NULL, 3, &p), CD_EINVAL);
    assert_int_equal(intent_predict(m, "x", 1, NULL), CD_EINVAL);
    assert_int_equal(intent_learn(m, NULL, 0, "login"), CD_OK);
    assert_int_equal(intent_learn(m, NULL, 1, "login"), CD_EINVAL);
    assert_int_equal(intent_learn(m, "x", 1, NULL), CD_EINVAL);
    assert_int_equal(intent_learn(m, "x", 1, ""), CD_EINVAL);
    char longcat[INTENT_MAX_CATEGORY + 2];
    memset(longcat, 'c', sizeof longcat - 1);
    longcat[sizeof longcat - 1] = '\0';
    assert_int_equal(intent_learn(m, "x", 1, longcat), CD_EINVAL);
    longcat[INTENT_MAX_CATEGORY] = '\0';
    assert_int_equal(intent_learn(m, "x", 1, longcat), CD_OK);
    assert_int_equal(intent_learn(m, "x", 1, "\xff\xfe weird \x01 name"), CD_OK);
    assert_int_equal(intent_predict(NULL, "x", 1, &p), CD_EINVAL);
    assert_int_equal(intent_learn(NULL, "x", 1, "a"), CD_EINVAL);
    assert_int_equal(intent_train(NULL), CD_EINVAL);
    intent_free(NULL);

    intent_params bp;
    intent_params_default(&bp);
    bp.char_max = 9;
    assert_null(intent_new_with(&bp));
    assert_null(intent_new_with(NULL));
    intent_free(m);
}

static void test_zero_and_one_category(void **state)
{
    intent_model *m = intent_new();
    intent_prediction p;
    assert_int_equal(intent_predict(m, "hello", 5, &p), CD_ESTATE);
    assert_null(p.category);
    assert_int_equal(p.ntop, 0);
    assert_int_equal(intent_train(m), CD_OK); /* nothing to do */

    assert_int_equal(intent_learn(m, "hello there", 11, "greeting"), CD_OK);
    p = pred(m, "anything at all");
    assert_string_equal(p.category, "greeting");
    assert_true(p.confidence > 0.6 && p.confidence < 0.7); /* 2/3 */
    assert_int_equal(intent_learn(m, "hi", 2, "greeting"), CD_OK);
    assert_int_equal(intent_train(m), CD_OK);
    p = pred(m, "");
    assert_true(p.confidence > 0.74 && p.confidence < 0.76); /* 3/4 */

    /* A second category turns it into a real classifier. */
    assert_int_equal(intent_learn(m, "goodbye now", 11, "farewell"), CD_OK);
    assert_string_equal(pred(m, "goodbye").category, "farewell");
    assert_int_equal(intent_train(m), CD_OK); /* too few for folds: temperature 1 */
    assert_string_equal(pred(m, "goodbye").category, "farewell");
    assert_string_equal(pred(m, "hello").category, "greeting");
    intent_free(m);
}

static void test_save_load(void **state)
{
    intent_model *m = learn_all(1);
    const char *extra = "cancel my plan";
    assert_int_equal(intent_learn(m, extra, strlen(extra), "cancel"), CD_OK);
    unsigned char *buf;
    size_t len;
    assert_int_equal(intent_save(m, &buf, &len), CD_OK);
    intent_model *l;
    assert_int_equal(intent_load(buf, len, &l), CD_OK);
    assert_int_equal(intent_examples(l), intent_examples(m));
    assert_int_equal(intent_pending(l), 1);
    assert_int_equal(intent_categories(l), 4);
    assert_int_equal(intent_features(l), intent_features(m));
    for (size_t i = 0; i < NTEST; i++) {
        intent_prediction a = pred(m, TEST[i].text), b = pred(l, TEST[i].text);
        assert_string_equal(a.category, b.category);
        assert_true(a.confidence == b.confidence);
    }
    /* Both go on the same way. */
    assert_int_equal(intent_train(m), CD_OK);
    assert_int_equal(intent_train(l), CD_OK);
    unsigned char *b1, *b2;
    size_t l1, l2;
    assert_int_equal(intent_save(m, &b1, &l1), CD_OK);
    assert_int_equal(intent_save(l, &b2, &l2), CD_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    cd_free(b1);
    cd_free(b2);
    intent_free(l);

    /* Every truncation and some corruptions are refused or load sanely. */
    for (size_t cut = 0; cut < len; cut += (cut < 256 ? 1 : 97)) {
        assert_int_equal(intent_load(buf, cut, &l), CD_EINVAL);
        assert_null(l);
    }
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    intent_prediction p;
    for (size_t at = 0; at < len; at += 13) {
        memcpy(bad, buf, len);
        bad[at] ^= 0x5a;
        if (intent_load(bad, len, &l) == CD_OK) {
            assert_true(intent_predict(l, "password", 8, &p) == CD_OK);
            intent_free(l);
        }
    }
    free(bad);
    assert_int_equal(intent_load(NULL, 0, &l), CD_EINVAL);
    cd_free(buf);

    /* An empty model round-trips too. */
    intent_model *e = intent_new();
    assert_int_equal(intent_save(e, &buf, &len), CD_OK);
    assert_int_equal(intent_load(buf, len, &l), CD_OK);
    assert_int_equal(intent_predict(l, "x", 1, &p), CD_ESTATE);
    cd_free(buf);
    intent_free(l);
    intent_free(e);
    intent_free(m);
}

static void test_clone(void **state)
{
    intent_model *m = learn_all(1);
    intent_model *c = intent_clone(m);
    assert_non_null(c);
    const char *q = "cancel my plan";
    assert_int_equal(intent_learn(c, q, strlen(q), "cancel"), CD_OK);
    assert_int_equal(intent_train(c), CD_OK);
    assert_string_equal(pred(c, q).category, "cancel");
    assert_int_equal(intent_categories(m), 3);
    assert_string_not_equal(pred(m, q).category, "cancel");
    intent_free(m);
    intent_free(c);
}

/* Concurrent predictions on one model agree with single-threaded ones. */
typedef struct job {
    const intent_model *m;
    int bad;
} job;

static void *predict_many(void *arg)
{
    job *j = arg;
    for (int r = 0; r < 200; r++)
        for (size_t i = 0; i < NTEST; i++) {
            intent_prediction p;
            if (intent_predict(j->m, TEST[i].text, strlen(TEST[i].text), &p) != CD_OK ||
                strcmp(p.category, TEST[i].cat) != 0)
                j->bad++;
        }
    return NULL;
}

static void test_threads(void **state)
{
    intent_model *m = learn_all(1);
    pthread_t t[4];
    job j[4];
    for (int i = 0; i < 4; i++) {
        j[i] = (job){m, 0};
        assert_int_equal(pthread_create(&t[i], NULL, predict_many, &j[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(j[i].bad, 0);
    }
    intent_free(m);
}

/* Every allocation of learn, train, clone, save and load may fail; the
 * model stays usable and nothing leaks (the _asan build checks). */
static void test_alloc_failures(void **state)
{
    intent_model *m = learn_all(0);
    for (unsigned long n = 1; n < 200; n++) {
        size_t nex = intent_examples(m), cats = intent_categories(m);
        cd_mem_fail_after(n);
        int rc = intent_learn(m, "a brand new phrase", 18, n % 2 ? "fresh" : "billing");
        cd_mem_fail_after(0);
        if (rc == CD_OK) {
            assert_int_equal(intent_examples(m), nex + 1);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_int_equal(intent_examples(m), nex);
        assert_int_equal(intent_categories(m), cats);
    }
    unsigned char *before, *after;
    size_t lb, la;
    assert_int_equal(intent_save(m, &before, &lb), CD_OK);
    for (unsigned long n = 1; n < 200; n++) {
        cd_mem_fail_after(n);
        int rc = intent_train(m);
        cd_mem_fail_after(0);
        if (rc == CD_OK)
            break;
        assert_int_equal(rc, CD_ENOMEM);
        /* Unchanged, bit for bit. */
        assert_int_equal(intent_save(m, &after, &la), CD_OK);
        assert_int_equal(la, lb);
        assert_memory_equal(after, before, la);
        cd_free(after);
    }
    cd_free(before);
    assert_int_equal(intent_pending(m), 0);
    unsigned char *buf = NULL;
    size_t len = 0;
    for (unsigned long n = 1; n < 200; n++) {
        cd_mem_fail_after(n);
        intent_model *c = intent_clone(m);
        int rc = intent_save(m, &buf, &len);
        cd_mem_fail_after(0);
        intent_free(c);
        if (rc == CD_OK)
            break;
        assert_int_equal(rc, CD_ENOMEM);
    }
    for (unsigned long n = 1; n < 400; n++) {
        intent_model *l = NULL;
        cd_mem_fail_after(n);
        int rc = intent_load(buf, len, &l);
        cd_mem_fail_after(0);
        if (rc == CD_OK) {
            assert_string_equal(pred(l, "reset my password").category, "login");
            intent_free(l);
            break;
        }
        assert_int_equal(rc, CD_ENOMEM);
        assert_null(l);
    }
    cd_free(buf);
    assert_string_equal(pred(m, "reset my password").category, "login");
    intent_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_predicts),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_confidence),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_zero_and_one_category),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
