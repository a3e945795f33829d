/* The profiler's sampler thread and the vCPUs' side: registers, frame chain, bounded buffers. */
#include "cpu/profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/pagewalk.h"
#include "cpu/vcpu.h"
#include "profile/unwind.h"
#include "security/seccomp.h"
#include "util/log.h"

#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
/* The first allocation of a vCPU's buffer, in words; it doubles up to its bound. */
#define SAMPLES_FIRST_WORDS 65536
/* The sampler notices a stopping VM within this long, whatever the rate. */
#define SLEEP_SLICE_NS 50000000ull

/* ---- the vCPU's side ---------------------------------------------------------------- */

/* Guest virtual reads for the walk: through the vCPU's page tables, one page remembered. */
struct walk_mem {
	const struct guest_mem *mem;
	const struct kvm_sregs *sregs;
	uint64_t page, gpa_page;
	bool cached;
};

static int walk_read(void *opaque, uint64_t gva, uint64_t *val)
{
	struct walk_mem *w = opaque;
	uint64_t page = gva & ~4095ull, gpa;

	if (!w->cached || w->page != page) {
		if (pagewalk_translate(w->mem, w->sregs, page, &gpa))
			return -EFAULT;
		w->page = page;
		w->gpa_page = gpa & ~4095ull;
		w->cached = true;
	}
	/* 8-byte aligned (the walk checks), so never across a page. */
	return gm_read(w->mem, val, w->gpa_page | (gva & 4095), 8);
}

/* Room for n more words, growing the buffer up to its bound. */
static bool samples_room(struct vcpu_samples *s, size_t n)
{
	if (s->len + n <= s->cap)
		return true;
	if (s->len + n > s->max)
		return false;
	size_t cap = MIN(MAX(s->cap * 2, s->len + n), s->max);
	uint64_t *w = realloc(s->words, cap * sizeof(*w));
	if (!w)
		return false;
	s->words = w;
	s->cap = cap;
	return true;
}

void vcpu_sample(struct vcpu *vcpu)
{
	const struct cpu_backend_ops *ops = vcpu->set->ops;
	struct vcpu_samples *s = &vcpu->samples;
	uint64_t frames[PROFILE_MAX_FRAMES];
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int n = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->words) { /* the profile's last request: it has ended */
		if (s->regs_kept)
			ops->vcpu_exit_regs_end(vcpu);
		s->regs_kept = false;
		goto out;
	}
	if (ops->vcpu_exit_regs(vcpu, &regs, &sregs)) {
		s->failed++;
		goto out;
	}
	s->regs_kept = true;
	unsigned cpl = sregs.cs.selector & 3;
	/* Guest kernel, 64-bit code: walk its frame pointers. User mode is leaf only. */
	if (cpl == 0 && (sregs.efer & EFER_LMA) && sregs.cs.l) {
		struct walk_mem w = { .mem = vcpu->set->env.mem, .sregs = &sregs };
		n = unwind_frame_pointers(regs.rbp, (sregs.cr4 & CR4_LA57) ? 57 : 48, true,
					  PROFILE_MAX_FRAMES, walk_read, &w, frames);
	}
	if (!samples_room(s, 2 + (size_t)n)) {
		s->dropped++;
		goto out;
	}
	s->words[s->len++] = cpl | (uint64_t)n << 8;
	s->words[s->len++] = regs.rip;
	memcpy(&s->words[s->len], frames, (size_t)n * sizeof(frames[0]));
	s->len += (size_t)n;
	s->taken++;
out:
	pthread_mutex_unlock(&s->lock);
}

bool vcpu_profile_next(const struct vcpu_profile *p, int vcpu, size_t *pos,
		       struct profile_sample *s)
{
	const struct profile_vcpu *v = &p->vcpu[vcpu];

	if (*pos + 2 > v->len)
		return false;
	uint64_t h = v->words[*pos];
	size_t n = MIN((size_t)(h >> 8) & 0xff, (size_t)PROFILE_MAX_FRAMES);
	if (*pos + 2 + n > v->len)
		return false;
	s->vcpu = (uint32_t)vcpu;
	s->cpl = h & 3;
	s->nr_frames = (uint8_t)n;
	s->rip = v->words[*pos + 1];
	memcpy(s->frames, &v->words[*pos + 2], n * sizeof(s->frames[0]));
	*pos += 2 + n;
	return true;
}

/* ---- the sampler thread --------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The VM stops, or the profile is called off. */
static bool profile_ending(struct vcpu_profile *p)
{
	return atomic_load(&p->set->stopping) || atomic_load(&p->cancel);
}

/* Sleep until `t` (monotonic ns) or until the profile ends. */
static void sleep_until(struct vcpu_profile *p, uint64_t t)
{
	for (uint64_t now = mono_ns(); now < t && !profile_ending(p); now = mono_ns()) {
		uint64_t until = MIN(t, now + SLEEP_SLICE_NS);
		struct timespec ts = { (time_t)(until / 1000000000ull), (long)(until % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

/* Ask every vCPU for a sample; one whose last request is still pending is not kicked again. */
static void profile_tick(struct vcpu_profile *p)
{
	struct vcpu_set *set = p->set;

	for (int i = 0; i < set->nr; i++) {
		struct vcpu *v = &set->vcpus[i];
		if (!v->thread_started)
			continue;
		if (atomic_exchange(&v->sample_due, true))
			p->vcpu[i].missed++;
		else
			set->ops->vcpu_kick(v);
	}
	atomic_fetch_add(&p->ticks, 1);
}

/*
 * Take each vCPU's buffer over into the profile (the sampler's last act), then ask each for
 * one more sample, which finds no buffer and has the backend stop bringing registers along.
 */
static void profile_collect(struct vcpu_profile *p)
{
	for (int i = 0; i < p->nr; i++) {
		struct vcpu *v = &p->set->vcpus[i];
		struct vcpu_samples *s = &v->samples;

		pthread_mutex_lock(&s->lock);
		p->vcpu[i].words = s->words;
		p->vcpu[i].len = s->len;
		p->vcpu[i].taken = s->taken;
		p->vcpu[i].dropped = s->dropped;
		p->vcpu[i].failed = s->failed;
		s->words = NULL;
		pthread_mutex_unlock(&s->lock);
		atomic_store(&v->sample_due, true);
		if (v->thread_started && !atomic_load(&p->set->stopping))
			p->set->ops->vcpu_kick(v);
	}
}

static void *profile_thread(void *arg)
{
	struct vcpu_profile *p = arg;
	struct vcpu_set *set = p->set;
	uint64_t period = 1000000000ull / p->hz, start = mono_ns();
	uint64_t end = start + (uint64_t)p->seconds * 1000000000ull;

	seccomp_thread_start(SECCOMP_PROFILE, "vmon-profile");
	for (uint64_t t = start + period; t <= end && !profile_ending(p); t += period) {
		sleep_until(p, t);
		uint64_t now = mono_ns();
		if (now > t + period) /* fell behind (a busy host): skip, do not burst */
			t = now - (now - start) % period;
		if (__atomic_load_n(&set->pause_requested, __ATOMIC_ACQUIRE))
			atomic_fetch_add(&p->paused_ticks, 1);
		else if (!profile_ending(p))
			profile_tick(p);
		atomic_store(&p->elapsed_ms, (now - start) / 1000000);
	}
	profile_collect(p);
	atomic_store(&p->elapsed_ms, (mono_ns() - start) / 1000000);
	atomic_store(&p->state, profile_ending(p) ? PROFILE_STOPPED : PROFILE_COMPLETED);
	return NULL;
}

static void profile_free(struct vcpu_profile *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nr; i++)
		free(p->vcpu[i].words);
	free(p->vcpu);
	free(p);
}

/* Give every vCPU an empty buffer for up to `samples` samples (0, or -ENOMEM). */
static int buffers_arm(struct vcpu_set *set, size_t samples)
{
	size_t max = samples * (2 + PROFILE_MAX_FRAMES), first = MIN(max, (size_t)SAMPLES_FIRST_WORDS);

	for (int i = 0; i < set->nr; i++) {
		struct vcpu_samples *s = &set->vcpus[i].samples;
		uint64_t *w = malloc(first * sizeof(*w));

		if (!w) {
			for (int j = 0; j < i; j++) { /* asked for no sample yet: taken back at once */
				pthread_mutex_lock(&set->vcpus[j].samples.lock);
				free(set->vcpus[j].samples.words);
				set->vcpus[j].samples.words = NULL;
				pthread_mutex_unlock(&set->vcpus[j].samples.lock);
			}
			return -ENOMEM;
		}
		pthread_mutex_lock(&s->lock);
		s->words = w;
		s->len = 0;
		s->cap = first;
		s->max = max;
		s->taken = s->dropped = s->failed = 0;
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

int vcpus_profile_start(struct vcpu_set *set, unsigned hz, unsigned seconds, char *err,
			size_t errlen)
{
	struct vcpu_profile *p;
	int ret;

	if (profile_check_request(hz, seconds, err, errlen))
		return -EINVAL;
	if (set->profile && atomic_load(&set->profile->state) == PROFILE_RUNNING) {
		snprintf(err, errlen, "A profile is running already (%u s at %u Hz, %llu ms in): wait "
			 "for it, then GET /profile.", set->profile->seconds, set->profile->hz,
			 (unsigned long long)atomic_load(&set->profile->elapsed_ms));
		return -EBUSY;
	}
	vcpus_profile_free(set);
	p = calloc(1, sizeof(*p));
	if (p)
		p->vcpu = calloc((size_t)set->nr, sizeof(*p->vcpu));
	if (!p || !p->vcpu || buffers_arm(set, (size_t)hz * seconds)) {
		profile_free(p);
		snprintf(err, errlen, "Out of memory for the profile's sample buffers.");
		return -ENOMEM;
	}
	p->set = set;
	p->hz = hz;
	p->seconds = seconds;
	p->nr = set->nr;
	atomic_init(&p->state, PROFILE_RUNNING);
	ret = -pthread_create(&p->thread, NULL, profile_thread, p);
	if (ret) {
		profile_collect(p);
		profile_free(p);
		snprintf(err, errlen, "Cannot start the profiler's thread: %s.", strerror(-ret));
		return ret;
	}
	set->profile = p;
	pr_info("profile: %u s at %u Hz on %d vCPU%s", seconds, hz, set->nr, set->nr == 1 ? "" : "s");
	return 0;
}

const struct vcpu_profile *vcpus_profile(const struct vcpu_set *set)
{
	return set->profile;
}

void vcpus_profile_end(struct vcpu_set *set)
{
	if (!set->profile || set->profile->joined)
		return;
	atomic_store(&set->profile->cancel, true);
	pthread_join(set->profile->thread, NULL);
	set->profile->joined = true;
}

void vcpus_profile_free(struct vcpu_set *set)
{
	vcpus_profile_end(set);
	profile_free(set->profile);
	set->profile = NULL;
}
