/*
 * `vmon shm-server --socket PATH --size SIZE [--vectors N]`: a server with the protocol of
 * QEMU's ivshmem-server (devices/ivshmem_proto.h), so vmon's and QEMU's ivshmem-doorbell
 * devices share one memfd and ring each other's eventfds.
 */
#ifndef VMON_SHM_SERVER_H
#define VMON_SHM_SERVER_H

/* argv[0] is "shm-server". Runs until SIGINT/SIGTERM; returns the exit status. */
int shm_server_main(int argc, char **argv);

#endif
