// Two kinds of error: a user error (clear message, next step, exit 2) and a bug (stack, exit 1).
export class UserError extends Error {}
