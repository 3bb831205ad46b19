/* A TFLite external delegate that loads fine and claims no node: the "delegate did not take the
 * graph" case. Built by tests/app/test_runtime.py with the system C compiler. The struct is
 * TfLiteDelegate of tensorflow/lite/c/common.h (2.10 to 2.14): five pointers, then int64 flags,
 * then (since 2.11) one more pointer; calloc'ing the larger layout suits both. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct NoopDelegate {
    void *data;
    int (*prepare)(void *context, struct NoopDelegate *delegate);
    void *copy_from_buffer_handle;
    void *copy_to_buffer_handle;
    void *free_buffer_handle;
    int64_t flags;
    void *opaque_delegate_builder;
} NoopDelegate;

static int prepare_claims_nothing(void *context, NoopDelegate *delegate) {
    (void)context;
    (void)delegate;
    return 0; /* kTfLiteOk, without calling ReplaceNodeSubsetsWithDelegateKernels */
}

NoopDelegate *tflite_plugin_create_delegate(char **keys, char **values, size_t count,
                                            void (*report_error)(const char *)) {
    (void)keys;
    (void)values;
    (void)count;
    (void)report_error;
    NoopDelegate *delegate = calloc(1, sizeof(NoopDelegate));
    if (delegate != NULL) delegate->prepare = prepare_claims_nothing;
    return delegate;
}

void tflite_plugin_destroy_delegate(NoopDelegate *delegate) { free(delegate); }
