/* clone3 with set_tid NULL and set_tid_size 1, CLONE_NEWPID, without
 * CAP_SYS_ADMIN (uid nobody): the kernel must answer EINVAL (the NULL
 * set_tid check in copy_clone_args_from_user); a kernel without that
 * check reaches copy_namespaces first and answers EPERM. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
		perror("drop privileges");
		return 2;
	}
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_NEWPID;
	args.exit_signal = SIGCHLD;
	args.set_tid = 0;
	args.set_tid_size = 1;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		printf("clone3 succeeded (pid %ld): want EINVAL\n", pid);
		return 1;
	}
	printf("clone3: %s (errno %d)\n", strerror(errno), errno);
	return errno == EINVAL ? 0 : 1;
}
