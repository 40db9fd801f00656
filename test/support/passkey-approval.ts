import { expect } from '@jest/globals';
import request from 'supertest';

import { ADMIN_TOKEN, type TestApp } from './app.js';
import type { SoftAuthenticator } from './soft-authenticator.js';

/** Registers a passkey for `userId` through an admin enrollment link, as the enrollment page would; its credential id. */
export async function enrollPasskey(t: TestApp, userId: string, authenticator: SoftAuthenticator): Promise<string> {
  const link = await request(t.server).post(`/admin/users/${userId}/enrollments`).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send({}).expect(201);
  const token = new URL(link.body.url as string).pathname.split('/').pop()!;
  const options = await request(t.server).post(`/enroll/${token}/options`).send({}).expect(200);
  const credential = authenticator.register(options.body);
  await request(t.server).post(`/enroll/${token}`).send({ credential }).expect(200);
  return credential.id;
}

/** The approver approves on the approval page's JSON endpoints with her passkey. */
export async function approveWithPasskey(t: TestApp, id: string, authenticator: SoftAuthenticator): Promise<void> {
  const options = await request(t.server).post(`/approvals/${id}/options`).send({ action: 'approve' }).expect(200);
  const res = await request(t.server).post(`/approvals/${id}/decision`).send({ action: 'approve', credential: authenticator.assert(options.body) });
  expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: { status: 'approved' } });
}
