// `dcign cluster keygen --out FILE`: the cluster key pair (CurveZMQ) that every worker host of a cluster holds, so
// replicas on different hosts encrypt their ring traffic and admit only each other. Copy the file to every worker
// host (mode 0600) and start workers with `--cluster-key FILE` or DCIGN_CLUSTER_KEY_FILE.
import type { CommandModule } from 'yargs';

interface KeygenArgs {
  out: string;
  force: boolean;
}

const keygen: CommandModule<object, KeygenArgs> = {
  command: 'keygen',
  describe: 'Write a new cluster key file (mode 0600) for `dcign worker --cluster-key`',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'file to write (refused if it exists, unless --force)' })
      .option('force', { type: 'boolean', default: false, describe: 'replace an existing file (every host then needs the new one)' }) as never,
  handler: async (a) => {
    const { writeClusterKeyFile } = await import('../../parallel/curve.js');
    const { publicKey } = writeClusterKeyFile(a.out, a.force);
    console.log(`wrote ${a.out} (public key ${publicKey}); copy it to every worker host and start workers with --cluster-key ${a.out}`);
  },
};

export const clusterCommand: CommandModule = {
  command: 'cluster <command>',
  describe: 'Cluster set-up: the key that authenticates replicas between hosts',
  builder: (y) => y.command(keygen).demandCommand(1),
  handler: () => undefined,
};
