import { TpCommand } from '../../cli/base-command.js';
import { CREDENTIALS_SECRET_ENV, CREDENTIALS_URL_ENV } from '../../docker/kubeconfig.js';
import { fetchCredentials } from '../../docker/credentials.js';

export default class DockerCredentials extends TpCommand<void> {
  static summary = 'The exec credential plugin of a Docker-mode container: prints the credentials the host\'s plugin gave.';
  static hidden = true;

  async execute(): Promise<void> {
    await this.parse(DockerCredentials);
    process.stdout.write(await fetchCredentials(process.env[CREDENTIALS_URL_ENV] ?? '', process.env[CREDENTIALS_SECRET_ENV] ?? ''));
  }

  render(): string {
    return '';
  }
}
