/* QEMU TCG plugin: instructions executed per vCPU (hart), with snapshots at a marker.
 *
 *   qemu-system-riscv32 ... -plugin libxd_count.so,mark=0x80001234,out=counts.txt
 *
 * Every translated block adds its instruction count to its vCPU's counter when it runs.
 * When the block at `mark` (the entry of xd_cluster_mark) runs, the counters of all
 * vCPUs are appended as one snapshot. At exit, `out` gets one line per snapshot,
 * "mark c0 c1 ...", then "total c0 c1 ...".
 *
 * Debian's QEMU 7.2 loads plugins (API version 1) but ships no header: the few API
 * functions used are declared here as that version defines them.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_VCPUS 8

static uint64_t counts[MAX_VCPUS];
static uint64_t *snapshots; /* MAX_VCPUS counters per snapshot */
static size_t n_snapshots, cap_snapshots;
static uint64_t mark_addr = UINT64_MAX;
static char out_path[4096];

static void on_exec(unsigned int vcpu, void *n)
{
    if (vcpu < MAX_VCPUS)
        counts[vcpu] += (uint64_t)(uintptr_t)n;
}

static void on_mark(unsigned int vcpu, void *unused)
{
    (void)vcpu;
    (void)unused;
    if (n_snapshots == cap_snapshots) {
        cap_snapshots = cap_snapshots ? 2 * cap_snapshots : 256;
        snapshots = realloc(snapshots, cap_snapshots * MAX_VCPUS * sizeof *snapshots);
        if (snapshots == NULL)
            abort();
    }
    memcpy(snapshots + n_snapshots * MAX_VCPUS, counts, sizeof counts);
    ++n_snapshots;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    /* The snapshot is taken before the marker's own block counts. */
    if (qemu_plugin_tb_vaddr(tb) == mark_addr)
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void write_row(FILE *f, const char *what, const uint64_t *row)
{
    int k;
    fputs(what, f);
    for (k = 0; k < MAX_VCPUS; ++k)
        fprintf(f, " %" PRIu64, row[k]);
    fputc('\n', f);
}

static void on_atexit(qemu_plugin_id_t id, void *unused)
{
    size_t s;
    FILE *f;
    (void)id;
    (void)unused;
    f = out_path[0] ? fopen(out_path, "w") : stderr;
    if (f == NULL)
        return;
    for (s = 0; s < n_snapshots; ++s)
        write_row(f, "mark", snapshots + s * MAX_VCPUS);
    write_row(f, "total", counts);
    if (f != stderr)
        fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    int k;
    (void)info;
    for (k = 0; k < argc; ++k) {
        if (strncmp(argv[k], "mark=", 5) == 0)
            mark_addr = strtoull(argv[k] + 5, NULL, 0);
        else if (strncmp(argv[k], "out=", 4) == 0)
            snprintf(out_path, sizeof out_path, "%s", argv[k] + 4);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
