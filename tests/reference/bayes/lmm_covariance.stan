// A linear mixed model with one grouping factor and a structured random-effects covariance,
// written as mejax.bayes samples it (random effects non-centred, b = u L'):
//   kind 1, exchangeable:  Sigma = var_u[1] ((1 - rho) I + rho 11'), var_u ~ inv_gamma,
//                          rho uniform on (-1/(K-1), 1) (its bounds, no other prior)
//   kind 2, unstructured with lkj:  Sigma = D R D, R ~ LKJ(lkj_eta), each diagonal
//                          variance var_u[k] ~ inv_gamma
// beta ~ normal(0, prior_sd), residual variance sigma2 ~ inv_gamma. Stan 2.21 syntax.
data {
  int<lower=1> N;
  int<lower=1> P;
  int<lower=2> K;
  int<lower=1> J;
  int<lower=1, upper=2> kind;
  matrix[N, P] X;
  matrix[N, K] Z;
  int<lower=1, upper=J> g[N];
  vector[N] y;
  real<lower=0> prior_sd;
  real<lower=0> ig_shape;
  real<lower=0> ig_scale;
  real<lower=0> lkj_eta;
}
parameters {
  vector[P] beta;
  real<lower=0> sigma2;
  matrix[J, K] u;
  vector<lower=0>[kind == 1 ? 1 : K] var_u;
  real<lower=-1.0 / (K - 1), upper=1> rho[kind == 1 ? 1 : 0];
  cholesky_factor_corr[K] L_corr[kind == 2 ? 1 : 0];
}
transformed parameters {
  matrix[K, K] L;
  if (kind == 1) {
    L = sqrt(var_u[1]) * cholesky_decompose(
      (1 - rho[1]) * diag_matrix(rep_vector(1, K)) + rho[1] * rep_matrix(1, K, K));
  } else {
    L = diag_pre_multiply(sqrt(var_u), L_corr[1]);
  }
}
model {
  matrix[J, K] b = u * L';
  vector[N] eta = X * beta + rows_dot_product(Z, b[g]);
  beta ~ normal(0, prior_sd);
  var_u ~ inv_gamma(ig_shape, ig_scale);
  sigma2 ~ inv_gamma(ig_shape, ig_scale);
  if (kind == 2) L_corr[1] ~ lkj_corr_cholesky(lkj_eta);
  to_vector(u) ~ std_normal();
  y ~ normal(eta, sqrt(sigma2));
}
generated quantities {
  matrix[K, K] Sigma = L * L';
}
