/* The VMM's counters as the metrics line carries them: vCPU exit profiles, devices, the API, memory. */
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "vmm/vmm.h"

static uint64_t rss_kib(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;

	if (f)
		fclose(f);
	return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024 : 0;
}

static json_t *vcpu_json(struct vcpu *v)
{
	json_t *exits = json_object(), *hist = json_object(), *total = json_object();

	for (int r = 0; r < VCPU_EXIT__MAX; r++) {
		const char *name = exit_reason_name((enum vcpu_exit_reason)r);
		uint64_t n = STAT_READ(v->stats.exits[r]);
		if (!n)
			continue;
		json_t *h = json_array();
		for (int b = 0; b < VCPU_LATENCY_BUCKETS; b++)
			json_array_append_new(h, json_integer((json_int_t)STAT_READ(v->stats.latency[r][b])));
		json_object_set_new(exits, name, json_integer((json_int_t)n));
		json_object_set_new(hist, name, h);
		json_object_set_new(total, name,
				    json_integer((json_int_t)(STAT_READ(v->stats.handling_ns[r]) / 1000)));
	}
	return json_pack("{s:i, s:o, s:o, s:o}", "id", v->index, "exits", exits,
			 "handling_us_log2_histogram", hist, "handling_us_total", total);
}

static json_t *device_json(struct vm_virtio *v)
{
	struct virtio_stats st;

	virtio_device_stats(&v->dev, &st);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "transport",
			 v->on_pci ? "pci" : "mmio", "queue_notifications", (json_int_t)st.notifications,
			 "interrupts", (json_int_t)st.interrupts, "requests", (json_int_t)st.requests,
			 "bytes_to_guest", (json_int_t)st.bytes_to_guest, "bytes_from_guest",
			 (json_int_t)st.bytes_from_guest, "errors", (json_int_t)st.errors, "dropped",
			 (json_int_t)st.dropped);
}

static void range_json(void *opaque, const struct bus_range *r)
{
	json_array_append_new(opaque, json_pack("{s:s, s:I, s:I, s:I}", "name", r->name ? r->name : "?",
						"base", (json_int_t)r->base, "len", (json_int_t)r->len,
						"accesses", (json_int_t)STAT_READ(r->accesses)));
}

/* Every claimed range of a bus with its access count, and the accesses nobody claimed. */
static json_t *bus_json(struct bus *bus)
{
	json_t *ranges = json_array();

	bus_foreach(bus, range_json, ranges);
	return json_pack("{s:o, s:I}", "ranges", ranges, "unclaimed",
			 (json_int_t)STAT_READ(bus->unclaimed));
}

/* metrics_init()'s collect callback. vmm lock held. */
json_t *vmm_counters(void *opaque)
{
	struct vmm *vmm = opaque;
	json_t *vcpus = json_array(), *devices = json_object();

	if (vmm->state != VMM_NOT_STARTED) {
		for (int i = 0; i < vmm->vm.vcpus.nr; i++)
			json_array_append_new(vcpus, vcpu_json(&vmm->vm.vcpus.vcpus[i]));
		for (int i = 0; i < vmm->vm.nr_virtio; i++)
			json_object_set_new(devices, vmm->vm.virtio[i]->id, device_json(vmm->vm.virtio[i]));
	}
	json_t *o = json_pack("{s:{s:s, s:I}, s:{s:I, s:I}, s:o, s:o, s:{s:I, s:I, s:I}}", "vmm", "state",
			 vmm_state_name(vmm->state), "rss_kib", (json_int_t)rss_kib(), "api_server",
			 "requests", (json_int_t)vmm->api_requests, "errors", (json_int_t)vmm->api_errors,
			 "vcpu", vcpus, "devices", devices, "snapshot", "created",
			 (json_int_t)vmm->snapshots_created, "last_create_us",
			 (json_int_t)vmm->snapshot_create_us, "load_us", (json_int_t)vmm->snapshot_load_us);
	if (o && vmm->state != VMM_NOT_STARTED) {
		json_object_set_new(o, "pio", bus_json(&vmm->vm.pio));
		json_object_set_new(o, "mmio", bus_json(&vmm->vm.mmio));
		json_object_set_new(o, "interrupts", json_pack("{s:I, s:I, s:I}", "com1",
			(json_int_t)STAT_READ(vmm->vm.com1_irq.raised), "i8042",
			(json_int_t)STAT_READ(vmm->vm.kbd_irq.raised), "acpi_sci",
			(json_int_t)STAT_READ(vmm->vm.sci_irq.raised)));
		json_object_set_new(o, "uart", json_pack("{s:I}", "rate_limiter_dropped_bytes",
			(json_int_t)atomic_load(&vmm->vm.serial_dropped)));
	}
	if (o && vmm->migration_metrics)
		json_object_set_new(o, "migration", vmm->migration_metrics(vmm));
	return o;
}
