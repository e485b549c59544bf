/* A library whose thread-locals use the initial-exec model (built with
 * -ftls-model=initial-exec -shared): dlopen'ed, glibc gives it a block in the static TLS
 * area of every thread, initialised from these values. Used by core/dlopen_ie_tls.c. */
static __thread long ie_counter = 4242;
static __thread char ie_name[32] = "initial-exec";
static __thread int ie_zero[64];

long ie_get_counter(void) { return ie_counter; }
void ie_set_counter(long v) { ie_counter = v; }
const char *ie_get_name(void) { return ie_name; }
void ie_set_name_char(char c) { ie_name[0] = c; }
int ie_zero_sum(void) {
    int s = 0;
    for (int i = 0; i < 64; i++) s += ie_zero[i];
    return s;
}
void ie_set_zero(int v) { ie_zero[v & 63] = v; }
