/*
 * The GDB stub's target, all-stop, against a fake backend: two vCPU threads that take kicks
 * and scripted exits through the real exit hook, guest RAM without paging. Stops, steps with
 * the other vCPU held, software breakpoints (int3 exit and this host's emulation failure),
 * the guest's own int3 handed back, polled watchpoints, release.
 */
#include "unit.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gdb/gdb_target.h"

#define NR 2

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked[NR];
	bool have_exit[NR];
	struct vcpu_exit exit[NR];
	int in_hook[NR];         /* the hook is running on that vCPU (it may be parked there) */
	int consumed[NR], passed[NR]; /* hook returned true / false */
	struct vcpu_debug debug[NR];
	int set_debug_calls[NR];
	uint64_t rip[NR];
	bool quit;
} fk;

static struct vcpu_set set;
static struct guest_mem gm;
static struct gdb_target t;
static pthread_t threads[NR];

/* ---- the fake backend --------------------------------------------------------------------- */

static void f_kick(struct vcpu *v)
{
	pthread_mutex_lock(&fk.lock);
	fk.kicked[v->index] = true;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

static int f_get_context(struct vcpu *v, struct vcpu_context *c, unsigned what)
{
	memset(&c->regs, 0, sizeof(c->regs));
	memset(&c->sregs, 0, sizeof(c->sregs)); /* CR0.PG clear: linear is physical */
	c->regs.rip = fk.rip[v->index];
	return 0;
}

static int f_set_context(struct vcpu *v, const struct vcpu_context *c, unsigned what)
{
	fk.rip[v->index] = c->regs.rip;
	return 0;
}

static int f_set_debug(struct vcpu *v, const struct vcpu_debug *d)
{
	pthread_mutex_lock(&fk.lock);
	fk.debug[v->index] = *d;
	fk.set_debug_calls[v->index]++;
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

static const struct cpu_backend_ops fake_ops = {
	.name = "fake",
	.vcpu_get_context = f_get_context,
	.vcpu_set_context = f_set_context,
	.vcpu_kick = f_kick,
	.vcpu_set_debug = f_set_debug,
};

/* A vCPU: each kick is an INTR exit, each scripted exit goes through the hook too. */
static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	int i = v->index;

	pthread_mutex_lock(&fk.lock);
	while (!fk.quit) {
		struct vcpu_exit e = { .reason = VCPU_EXIT_INTR };

		if (fk.have_exit[i]) {
			e = fk.exit[i];
			fk.have_exit[i] = false;
		} else if (fk.kicked[i]) {
			fk.kicked[i] = false;
		} else {
			pthread_cond_wait(&fk.cond, &fk.lock);
			continue;
		}
		fk.in_hook[i]++;
		pthread_mutex_unlock(&fk.lock);
		bool taken = gdb_target_hook(&t, v, &e);
		pthread_mutex_lock(&fk.lock);
		fk.in_hook[i]--;
		taken ? fk.consumed[i]++ : fk.passed[i]++;
		pthread_cond_broadcast(&fk.cond);
	}
	pthread_mutex_unlock(&fk.lock);
	return NULL;
}

static void post_exit(int i, struct vcpu_exit e)
{
	pthread_mutex_lock(&fk.lock);
	fk.exit[i] = e;
	fk.have_exit[i] = true;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
}

/* Until vCPU i has taken every kick and exit given to it and is out of the hook. */
static void settle(int i)
{
	pthread_mutex_lock(&fk.lock);
	while (fk.have_exit[i] || fk.kicked[i] || fk.in_hook[i])
		pthread_cond_wait(&fk.cond, &fk.lock);
	pthread_mutex_unlock(&fk.lock);
}

/* The debugger's side: the notification, then the stop. */
static void wait_stop(int *vcpu, struct gdb_stop *why)
{
	struct pollfd p = { .fd = t.notify_fd, .events = POLLIN };
	uint64_t v;

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(t.notify_fd, &v, sizeof(v)), sizeof(v));
	assert_true(gdb_target_take_stop(&t, vcpu, why));
}

static void resume_all(enum gdb_action a0, enum gdb_action a1)
{
	struct gdb_resume r = { .nr = NR, .action = { a0, a1 } };

	gdb_target_ops.resume(&t, &r);
}

static int setup(void **state)
{
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	pthread_cond_init(&fk.cond, NULL);
	assert_int_equal(gm_create(&gm, 16 * MiB, false), 0);
	vcpus_init(&set, &fake_ops, NULL, &(struct vcpu_env){ .mem = &gm });
	set.nr = NR;
	set.vcpus = calloc(NR, sizeof(*set.vcpus));
	for (int i = 0; i < NR; i++) {
		set.vcpus[i].set = &set;
		set.vcpus[i].index = i;
		set.vcpus[i].thread_started = true; /* for the pause protocol: the fakes below */
	}
	assert_int_equal(gdb_target_init(&t, &set, NULL, NULL, NULL, false), 0);
	for (int i = 0; i < NR; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, vcpu_thread, &set.vcpus[i]), 0);
	return 0;
}

static int teardown(void **state)
{
	gdb_target_release(&t, true);
	pthread_mutex_lock(&fk.lock);
	fk.quit = true;
	pthread_cond_broadcast(&fk.cond);
	pthread_mutex_unlock(&fk.lock);
	for (int i = 0; i < NR; i++)
		pthread_join(threads[i], NULL);
	gdb_target_destroy(&t);
	free(set.vcpus);
	gm_destroy(&gm);
	return 0;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_stop_and_resume(void **state)
{
	struct gdb_stop why;
	int vcpu;

	/* Not stopping: exits pass straight on to the exit table. */
	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_IO });
	settle(1);

	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 0); /* a plain stop shows the boot CPU */
	assert_int_equal(why.kind, GDB_STOP_SIGNAL);
	assert_int_equal(why.signal, GDB_SIGINT);
	assert_false(gdb_target_take_stop(&t, &vcpu, &why)); /* once per stop */
	assert_int_equal(t.nr_parked, NR);

	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	assert_int_equal(t.nr_parked, 0);
	/* Debugging stays off: nothing asked for it. */
	assert_false(fk.debug[0].enable);
	assert_false(fk.debug[1].enable);
}

/* s on vCPU 1: only it runs, single-stepping; its #DB (BS) is the stop. */
static void test_step_holds_the_other(void **state)
{
	struct gdb_stop why;
	int vcpu;

	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	resume_all(GDB_STAY, GDB_STEP);
	assert_true(fk.debug[1].enable && fk.debug[1].single_step);
	assert_false(fk.debug[0].single_step);
	settle(1);
	assert_int_equal(fk.in_hook[0], 1); /* vCPU 0 still parked */

	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 1, .dr6 = 0xffff4ff0 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1);
	assert_int_equal(why.kind, GDB_STOP_SIGNAL);
	assert_int_equal(why.signal, GDB_SIGTRAP);
	assert_int_equal(fk.consumed[0], 0);

	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	assert_false(fk.debug[1].single_step);
	assert_false(fk.debug[1].enable);
	settle(0);
}

static void test_software_breakpoints(void **state)
{
	const uint8_t code[4] = { 0x55, 0x48, 0x89, 0xe5 };
	uint8_t seen[4], raw;
	struct gdb_stop why;
	int vcpu;

	assert_int_equal(gm_write(&gm, 0x1000, code, 4), 0);
	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, 0x1001, 1, true), 0);
	assert_int_equal(gm_read(&gm, &raw, 0x1001, 1), 0);
	assert_int_equal(raw, 0xcc);
	/* gdb reads the code as it was; a write under the int3 changes what comes back. */
	assert_int_equal(gdb_target_ops.read_mem(&t, 0, 0x1000, seen, 4, false), 4);
	assert_memory_equal(seen, code, 4);
	const uint8_t nop = 0x90;
	assert_int_equal(gdb_target_ops.write_mem(&t, 0, 0x1001, &nop, 1, true), 1);
	assert_int_equal(gm_read(&gm, &raw, 0x1001, 1), 0);
	assert_int_equal(raw, 0xcc);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	assert_true(fk.debug[0].sw_breakpoints && fk.debug[1].sw_breakpoints);

	/* This host: the int3 fails emulation with RIP on it. Elsewhere it is not ours. */
	fk.rip[1] = 0x2000;
	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_INTERNAL_ERROR,
					 .internal = { .suberror = KVM_INTERNAL_ERROR_EMULATION } });
	settle(1);
	fk.rip[1] = 0x1001;
	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_INTERNAL_ERROR,
					 .internal = { .suberror = KVM_INTERNAL_ERROR_EMULATION } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1);
	assert_int_equal(why.kind, GDB_STOP_SWBREAK);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(1);

	/* A correct host: #BP at the int3. The guest's own int3 elsewhere goes back to it. */
	post_exit(0, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 3, .pc = 0x5000 } });
	settle(0);
	assert_int_equal(fk.debug[0].inject, 3);
	post_exit(0, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 3, .pc = 0x1001 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 0);
	assert_int_equal(why.kind, GDB_STOP_SWBREAK);

	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, 0x1001, 1, false), 0);
	assert_int_equal(gm_read(&gm, &raw, 0x1001, 1), 0);
	assert_int_equal(raw, 0x90);
	assert_int_equal(t.nr_sw, 0);
	/* Outside RAM: gdb hears E14. */
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, 0xfee00000, 1, true), -EFAULT);
}

static void test_watchpoints(void **state)
{
	const uint64_t v0 = 41, v1 = 42;
	struct gdb_stop why;
	int vcpu;

	assert_int_equal(gm_write(&gm, 0x3000, &v0, 8), 0);
	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_WP_WRITE, 0x3000, 8, true), 0);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_HW, 0x1234, 1, true), 0);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_WP_READ, 0x3001, 4, true), -EINVAL);
	assert_int_equal(gdb_target_poll_ms(&t), -1); /* stopped: nothing to poll */
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	assert_true(fk.debug[0].hw_breakpoints);
	assert_int_equal(fk.debug[0].db[0], 0x3000);
	assert_int_equal(fk.debug[0].db[1], 0x1234);
	assert_int_equal(fk.debug[0].dr7 & 0xf, 0xa);
	assert_true(gdb_target_poll_ms(&t) > 0);

	gdb_target_poll(&t); /* unchanged */
	assert_false(atomic_load(&t.stopping));
	assert_int_equal(gm_write(&gm, 0x3000, &v1, 8), 0);
	gdb_target_poll(&t);
	wait_stop(&vcpu, &why);
	assert_int_equal(why.kind, GDB_STOP_WATCH);
	assert_int_equal(why.addr, 0x3000);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);

	/* The debug registers' own report: DR1 is the execution breakpoint. */
	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 1, .dr6 = 0xffff0ff2 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1);
	assert_int_equal(why.kind, GDB_STOP_HWBREAK);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_WP_WRITE, 0x3000, 8, false), 0);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_HW, 0x1234, 1, false), 0);
	assert_int_equal(t.dr7 & 0xff, 0);
}

/* Detach while running: the vCPUs stop, the int3 goes, debugging goes off, they run. */
static void test_release(void **state)
{
	const uint8_t byte = 0x41;
	struct gdb_stop why;
	uint8_t raw;
	int vcpu;

	assert_int_equal(gm_write(&gm, 0x4000, &byte, 1), 0);
	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, 0x4000, 1, true), 0);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	gdb_target_ops.detach(&t);
	assert_int_equal(gm_read(&gm, &raw, 0x4000, 1), 0);
	assert_int_equal(raw, 0x41);
	assert_false(fk.debug[0].enable);
	assert_false(fk.debug[1].enable);
	settle(0);
	settle(1);
	assert_int_equal(t.nr_parked, 0);
	assert_false(atomic_load(&t.stopping));
}

static void stop_and_plant(uint64_t bp, uint64_t watch)
{
	const uint8_t code = 0x90;
	const uint64_t zero = 0;
	struct gdb_stop why;
	int vcpu;

	assert_int_equal(gm_write(&gm, bp, &code, 1), 0);
	assert_int_equal(gm_write(&gm, watch, &zero, 8), 0);
	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, bp, 1, true), 0);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_WP_WRITE, watch, 8, true), 0);
}

/*
 * Two events at once: vCPU 0's int3 stops the VM, and the watched bytes changed before the
 * poll saw them. The breakpoint is reported; the write is kept, not lost, and reported by
 * the next continue without the vCPUs running, naming a vCPU that is not on a breakpoint
 * (gdb would take a SIGTRAP there for a second hit). Not at gdb's step off the breakpoint.
 */
static void test_kept_watchpoint(void **state)
{
	const uint64_t one = 1;
	struct gdb_stop why;
	int vcpu;

	stop_and_plant(0x1001, 0x3000);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	assert_int_equal(gm_write(&gm, 0x3000, &one, 8), 0); /* before any poll */
	fk.rip[0] = fk.rip[1] = 0x1001;
	post_exit(0, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 3, .pc = 0x1001 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 0);
	assert_int_equal(why.kind, GDB_STOP_SWBREAK);
	assert_int_equal(t.nr_kept, 1);

	/* gdb steps vCPU 0 off the breakpoint: a step, not the kept hit. */
	resume_all(GDB_STEP, GDB_STAY);
	fk.rip[0] = 0x1002;
	post_exit(0, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 1, .dr6 = 0xffff4ff0 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(why.kind, GDB_STOP_SIGNAL);
	/* Continue: the kept hit, at once, on vCPU 0 (vCPU 1 waits on the int3). */
	int consumed = fk.consumed[0] + fk.consumed[1];
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 0);
	assert_int_equal(why.kind, GDB_STOP_WATCH);
	assert_int_equal(why.addr, 0x3000);
	assert_int_equal(t.nr_kept, 0);
	assert_int_equal(t.nr_parked, NR); /* nobody ran */
	assert_int_equal(fk.consumed[0] + fk.consumed[1], consumed);

	/* A hit on a watchpoint gdb deleted meanwhile is dropped. */
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	const uint64_t two = 2;
	assert_int_equal(gm_write(&gm, 0x3000, &two, 8), 0);
	post_exit(1, (struct vcpu_exit){ .reason = VCPU_EXIT_DEBUG,
					 .debug = { .exception = 3, .pc = 0x1001 } });
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1);
	assert_int_equal(t.nr_kept, 1);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_WP_WRITE, 0x3000, 8, false), 0);
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	assert_int_equal(t.nr_kept, 0);
	assert_int_equal(t.nr_parked, 0);
}

/* The poll's own hit names a vCPU off the breakpoints; with both on one, it is that one's
 * breakpoint and the write comes next. */
static void test_polled_hit_on_breakpoint(void **state)
{
	const uint64_t one = 1;
	struct gdb_stop why;
	int vcpu;

	stop_and_plant(0x1001, 0x3000);
	fk.rip[0] = 0x1001;
	fk.rip[1] = 0x2000;
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	assert_int_equal(gm_write(&gm, 0x3000, &one, 8), 0);
	gdb_target_poll(&t);
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1); /* vCPU 0 is the one that stopped last, but on the int3 */
	assert_int_equal(why.kind, GDB_STOP_WATCH);

	fk.rip[1] = 0x1001;
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	const uint64_t two = 2;
	assert_int_equal(gm_write(&gm, 0x3000, &two, 8), 0);
	gdb_target_poll(&t);
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 1);
	assert_int_equal(why.kind, GDB_STOP_SWBREAK);
	fk.rip[0] = 0x2000; /* as if gdb had stepped it off */
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	wait_stop(&vcpu, &why);
	assert_int_equal(vcpu, 0);
	assert_int_equal(why.kind, GDB_STOP_WATCH);
}

/*
 * PATCH /vm Paused while gdb holds the VM: the held vCPUs count as parked, so the pause
 * completes at once; while paused gdb can look but not write; gdb's continue lets them go
 * into the pause, where they wait for the resume.
 */
static void test_pause_while_held(void **state)
{
	const uint64_t v = 7;
	struct gdb_regs r;
	struct gdb_stop why;
	uint8_t byte;
	int vcpu;

	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	gdb_target_pause(&t, true);
	assert_int_equal(vcpus_pause(&set), 0);
	assert_int_equal(set.nr_parked, NR);
	assert_int_equal(gdb_target_ops.read_mem(&t, 0, 0x5000, &byte, 1, true), 1);
	assert_int_equal(gdb_target_ops.get_regs(&t, 1, &r), 0);
	assert_int_equal(gdb_target_ops.write_mem(&t, 0, 0x5000, &v, 8, true), -EBUSY);
	assert_int_equal(gdb_target_ops.set_regs(&t, 1, &r), -EBUSY);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_SW, 0x5000, 1, true), -EBUSY);
	assert_int_equal(gdb_target_ops.set_breakpoint(&t, GDB_BP_HW, 0x5000, 1, true), 0);
	assert_int_equal(t.nr_sw, 0);

	/* gdb continues during the pause: held no longer (the run loop would park them). */
	resume_all(GDB_CONTINUE, GDB_CONTINUE);
	settle(0);
	settle(1);
	assert_int_equal(set.nr_parked, 0);
	vcpus_resume(&set);
	gdb_target_pause(&t, false);
	gdb_target_stop(&t, GDB_SIGINT);
	wait_stop(&vcpu, &why);
	assert_int_equal(gdb_target_ops.write_mem(&t, 0, 0x5000, &v, 8, true), 8);
	assert_int_equal(gdb_target_ops.set_regs(&t, 1, &r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stop_and_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_holds_the_other, setup, teardown),
		cmocka_unit_test_setup_teardown(test_software_breakpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_while_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept_watchpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_polled_hit_on_breakpoint, setup, teardown),
	};
	return cmocka_run_group_tests_name("gdb_target", tests, NULL, NULL);
}
