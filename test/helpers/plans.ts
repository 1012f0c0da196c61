// Public keys for plan fixtures (schema tests sign nothing): two ed25519 keys made once by ssh-keygen.
export const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINQaEqsAVLrzKc0Uc7nwxii5vWg2fjDBn+WBxwgXAtz8';
export const BOB_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICid0xkP8h8PwB84b7yHygPceJo3vHL4w94+4zAhpVST';
/** `approvers:` of a plan in YAML flow style: alice and bob as allowed_signers lines. */
export const APPROVERS = `approvers: ['alice ${ALICE_KEY} alice@laptop', 'bob ${BOB_KEY}']`;
